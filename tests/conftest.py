"""Fixtures shared across the suite: the Java vector generator and checker (tests/javagen.py).
The real-Tomcat fixtures live in tests/interop/conftest.py."""

from tests.javagen import (  # noqa: F401  (fixtures)
    java_checker,
    java_vectors,
    java_vectors_all,
    tomcat_version,
)
