"""The Starlette app node (see issue 5)."""
