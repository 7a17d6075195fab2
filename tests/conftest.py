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


@pytest.fixture(autouse=True)
def _restore_tribes_logger() -> Iterator[None]:
    """A test that runs the CLI in-process configures the "tribes" logger (its own handler, no
    propagation); undo that so later tests' caplog still sees every event."""
    logger = logging.getLogger("tribes")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level
