"""Registry test fixtures (tests/registry_fixtures.py) and a client that knows no one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from etage.oci.store import ContentStore
from etage.registry import RegistryClient, StaticCredentials
from tests.registry_fixtures import basic_registry, registry, token_registry

__all__ = ["basic_registry", "registry", "token_registry"]


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    c = RegistryClient(credentials=StaticCredentials({}), backoff=0.01, retries=3)
    yield c
    c.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContentStore]:
    s = ContentStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return "t/" + name[:60].strip("-")
