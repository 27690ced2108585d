"""Image references: Docker's grammar, normalisation and messages."""

from __future__ import annotations

import pytest

from etage.reference import ReferenceError, parse_reference


@pytest.mark.parametrize(
    ("text", "normalized", "familiar"),
    [
        ("node", "docker.io/library/node:latest", "node:latest"),
        ("node:18", "docker.io/library/node:18", "node:18"),
        ("library/node:18", "docker.io/library/node:18", "node:18"),
        ("index.docker.io/library/node", "docker.io/library/node:latest", "node:latest"),
        ("docker.io/org/app:v1.2_3-rc", "docker.io/org/app:v1.2_3-rc", "org/app:v1.2_3-rc"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"),
        ("[::1]:5000/app:x", "[::1]:5000/app:x", "[::1]:5000/app:x"),
        (
            "ghcr.io/org/app@sha256:" + "a" * 64,
            "ghcr.io/org/app@sha256:" + "a" * 64,
            "ghcr.io/org/app@sha256:" + "a" * 64,
        ),
        ("Registry.Example.com/app:1", "Registry.Example.com/app:1", "Registry.Example.com/app:1"),
        ("a__b/c--d.e:1", "docker.io/a__b/c--d.e:1", "a__b/c--d.e:1"),
    ],
)
def test_normalisation(text: str, normalized: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == normalized
    assert ref.familiar() == familiar
    assert parse_reference(str(ref)) == ref


def test_parts() -> None:
    ref = parse_reference("node:18")
    assert (ref.domain, ref.path, ref.tag, ref.api_host) == (
        "docker.io",
        "library/node",
        "18",
        "registry-1.docker.io",
    )
    assert ref.reference == "18"
    both = parse_reference("localhost:5000/x:1@sha256:" + "b" * 64)
    assert both.reference.startswith("sha256:") and both.tag == "1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one component"),
        ("Node", "must be lowercase"),
        ("ghcr.io/Org/app", "must be lowercase"),
        ("a" * 64, "64-byte hexadecimal"),
        ("node:", "invalid reference format"),
        ("node:-x", "invalid reference format"),
        ("node:" + "t" * 129, "invalid reference format"),
        ("node@sha256:abc", "invalid reference format"),
        ("node@sha256:" + "g" * 64, "invalid reference format"),
        ("-node", "invalid reference format"),
        ("node//x", "invalid reference format"),
        ("x/" + "a" * 300, "255 characters"),
        ("node:1é", "invalid reference format"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ReferenceError, match=message):
        parse_reference(text)
