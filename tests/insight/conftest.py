"""The engine tests' fixtures: a fresh store with a busybox base image, and a builder."""

from tests.engine.conftest import base_store, builder  # noqa: F401
