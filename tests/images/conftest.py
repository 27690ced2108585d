"""Fixtures for image interoperability tests: a store with a real busybox image, the
registry servers, and a real dockerd (shared with the conformance tests: tests/docker_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etage.oci.model import Descriptor
from etage.oci.store import ContentStore
from etage.testing import busybox_image
from tests.docker_fixtures import Docker, dockerd
from tests.registry_fixtures import basic_registry, registry, token_registry

__all__ = ["Docker", "basic_registry", "dockerd", "registry", "token_registry"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContentStore]:
    s = ContentStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def busybox(store: ContentStore, tmp_path: Path) -> Descriptor:
    return busybox_image(store, tmp_path, "localhost/busybox:1")
