"""Fixtures shared across the suite: the Java vector generator and checker (tests/javagen.py).
The real-Tomcat fixtures live in tests/interop/conftest.py."""

import logging
from collections.abc import Iterator

import pytest

from tests.javagen import (  # noqa: F401  (fixtures)
    java_checker,
    java_vectors,
    java_vectors_all,
    tomcat_version,
)
from tribes.logsetup import HANDLER_MARK


@pytest.fixture(autouse=True)
def _restore_tribes_logger() -> Iterator[None]:
    """A test that runs the CLI in-process calls `configure_logging` (its own handler on the
    "tribes" logger, no propagation); undo exactly that, so later tests' caplog still sees every
    event.  Handlers other fixtures installed stay."""
    logger = logging.getLogger("tribes")
    before = {id(h) for h in logger.handlers}
    propagate, level = logger.propagate, logger.level
    yield
    added = [h for h in logger.handlers if id(h) not in before and getattr(h, HANDLER_MARK, False)]
    for h in added:
        logger.removeHandler(h)
    if added:
        logger.propagate, logger.level = propagate, level
