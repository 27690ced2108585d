"""The image model: OCI and Docker documents read, written and converted; platforms."""

from __future__ import annotations

import json

import pytest

from etage.oci import mediatypes as mt
from etage.oci.canonical import canonical_json
from etage.oci.digest import Digest, DigestError
from etage.oci.model import (
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ModelError,
    PlatformSpec,
    parse_config,
    parse_document,
    select_platform,
)
from etage.platforms import Platform

D1 = Digest.of(b"config")
D2 = Digest.of(b"layer")


def test_canonical_json_is_compact_ordered_and_go_escaped() -> None:
    assert (
        canonical_json({"b": 1, "a": "x & <y> é"})
        == '{"b":1,"a":"x \\u0026 \\u003cy\\u003e é"}'.encode()
    )
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json({"x": float("nan")})


def test_digest_parsing() -> None:
    d = Digest.parse(str(D1))
    assert d == D1 and d.short == D1.hex[:12]
    for bad in ("sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "nope"):
        with pytest.raises(DigestError):
            Digest.parse(bad)


def test_manifest_round_trip_and_docker_conversion() -> None:
    m = Manifest(
        Descriptor(mt.OCI_CONFIG, D1, 6),
        (Descriptor(mt.OCI_LAYER_GZIP, D2, 5, annotations=(("k", "v"),)),),
        annotations=(("org.opencontainers.image.created", "2024-01-01T00:00:00Z"),),
    )
    data = m.to_bytes()
    assert json.loads(data)["layers"][0]["annotations"] == {"k": "v"}
    back = parse_document(data)
    assert back == m
    docker = m.as_docker()
    assert docker.media_type == mt.DOCKER_MANIFEST
    assert docker.config.media_type == mt.DOCKER_CONFIG
    assert docker.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    assert parse_document(docker.to_bytes()) == docker
    assert docker.as_oci().layers[0].media_type == mt.OCI_LAYER_GZIP


def test_docker_has_no_zstd() -> None:
    m = Manifest(Descriptor(mt.OCI_CONFIG, D1, 6), (Descriptor(mt.OCI_LAYER_ZSTD, D2, 5),))
    with pytest.raises(ValueError, match="zstd"):
        m.as_docker()


def test_index_and_platform_selection() -> None:
    def entry(os_: str, arch: str, variant: str = "") -> Descriptor:
        return Descriptor(
            mt.OCI_MANIFEST,
            Digest.of(f"{os_}{arch}{variant}".encode()),
            10,
            platform=PlatformSpec(os_, arch, variant),
        )

    index = Index(
        (
            entry("linux", "amd64"),
            entry("linux", "arm", "v6"),
            entry("linux", "arm", "v7"),
            entry("linux", "arm64", "v8"),
            entry("windows", "amd64"),
        )
    )
    assert parse_document(index.to_bytes()) == index
    assert select_platform(index, Platform("linux", "amd64")) == index.manifests[0]
    assert select_platform(index, Platform.parse("linux/arm/v7")) == index.manifests[2]
    assert select_platform(index, Platform.parse("linux/arm64")) == index.manifests[3]
    assert select_platform(index, Platform("linux", "s390x")) is None


def test_docker_manifest_list_is_an_index() -> None:
    raw = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.DOCKER_MANIFEST,
                "digest": str(D1),
                "size": 3,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    doc = parse_document(json.dumps(raw).encode())
    assert isinstance(doc, Index) and doc.is_docker


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schemaVersion": 1, "fsLayers": []}, "schema 1"),
        ({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}, "no config"),
        ({"schemaVersion": 2, "config": {"digest": "sha256:x", "size": 1}}, "invalid"),
        ({"schemaVersion": 2, "config": {"digest": str(D1), "size": -1}}, "size"),
        ({"schemaVersion": 3, "config": {"digest": str(D1), "size": 1}}, "schemaVersion"),
    ],
)
def test_invalid_documents(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_document(json.dumps(doc).encode())


def test_config_keeps_unknown_fields_and_orders_keys() -> None:
    raw = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": [str(D2)]},
        "history": [{"created_by": "RUN x", "empty_layer": True}],
        "container_config": {"Hostname": "abc"},
        "docker_version": "20.10",
    }
    config = parse_config(json.dumps(raw).encode())
    assert config.diff_ids == (D2,)
    assert config.history[0].empty_layer
    out = json.loads(config.to_bytes())
    assert out["container_config"] == {"Hostname": "abc"} and out["docker_version"] == "20.10"
    assert list(out["config"]) == ["User", "Env", "Cmd"]
    assert config.platform == PlatformSpec("linux", "amd64")
    assert parse_config(config.to_bytes()) == config
    empty = ImageConfig("amd64", "linux")
    assert json.loads(empty.to_bytes())["rootfs"] == {"type": "layers", "diff_ids": []}
