"""The image model: descriptors, manifests, indexes and configs (OCI v1.1 and Docker v2.2).

Values are frozen. Reading accepts both formats; `to_json()` writes OCI unless the
document is Docker-typed. Fields this model does not know are kept in `extra` and
written back, so an image read and re-written keeps its content (and digests stay
stable when nothing changed: documents read from elsewhere keep their original bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from etage.oci import mediatypes as mt
from etage.oci.canonical import canonical_json, load_json
from etage.oci.digest import Digest
from etage.platforms import Platform


class ModelError(ValueError):
    """A document does not follow the image spec."""


def _get(d: dict[str, Any], key: str, kind: type, what: str, default: Any = None) -> Any:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ModelError(f"{what}: {key!r} should be a {kind.__name__}")
    return value


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """The platform of an image or of an index entry."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PlatformSpec:
        return cls(
            os=_get(d, "os", str, "platform", ""),
            architecture=_get(d, "architecture", str, "platform", ""),
            variant=_get(d, "variant", str, "platform", ""),
            os_version=_get(d, "os.version", str, "platform", ""),
            os_features=tuple(_get(d, "os.features", list, "platform", [])),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def of(cls, platform: Platform) -> PlatformSpec:
        return cls(platform.os, platform.architecture, platform.variant)

    def normalized(self) -> Platform:
        return Platform.parse(
            f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")
        )

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    platform: PlatformSpec | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any], what: str = "descriptor") -> Descriptor:
        if not isinstance(d, dict):
            raise ModelError(f"{what} is not an object")
        media_type = _get(d, "mediaType", str, what, "")
        digest = _get(d, "digest", str, what, "")
        size = d.get("size")
        if not digest:
            raise ModelError(f"{what} has no digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ModelError(f"{what} has no valid size")
        platform = d.get("platform")
        return cls(
            media_type=media_type,
            digest=_parse_digest(digest, what),
            size=size,
            annotations=tuple(sorted(_get(d, "annotations", dict, what, {}).items())),
            platform=PlatformSpec.from_json(platform) if isinstance(platform, dict) else None,
            urls=tuple(_get(d, "urls", list, what, [])),
            artifact_type=_get(d, "artifactType", str, what, ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)


def _parse_digest(text: str, what: str) -> Digest:
    try:
        return Digest.parse(text)
    except Exception as exc:
        raise ModelError(f"{what}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: tuple[tuple[str, str], ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    @classmethod
    def from_json(cls, d: dict[str, Any], media_type: str = "") -> Manifest:
        declared = _get(d, "mediaType", str, "manifest", "") or media_type or mt.OCI_MANIFEST
        if declared not in mt.MANIFESTS:
            raise ModelError(f"not an image manifest: media type {declared!r}")
        if d.get("schemaVersion") != 2:
            raise ModelError(f"unsupported manifest schemaVersion {d.get('schemaVersion')!r}")
        config = d.get("config")
        if not isinstance(config, dict):
            raise ModelError("manifest has no config descriptor")
        layers = _get(d, "layers", list, "manifest", [])
        subject = d.get("subject")
        return cls(
            config=Descriptor.from_json(config, "manifest config"),
            layers=tuple(
                Descriptor.from_json(x, f"manifest layer {i}") for i, x in enumerate(layers)
            ),
            media_type=declared,
            annotations=tuple(sorted(_get(d, "annotations", dict, "manifest", {}).items())),
            subject=Descriptor.from_json(subject, "manifest subject")
            if isinstance(subject, dict)
            else None,
            artifact_type=_get(d, "artifactType", str, "manifest", ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def as_docker(self) -> Manifest:
        """The same image in Docker's v2 schema 2 media types."""
        if self.is_docker:
            return self
        layers = tuple(
            replace(
                layer,
                media_type=mt.layer_media_type(mt.layer_compression(layer.media_type), docker=True),
            )
            for layer in self.layers
        )
        return replace(
            self,
            media_type=mt.DOCKER_MANIFEST,
            config=replace(self.config, media_type=mt.DOCKER_CONFIG),
            layers=layers,
            annotations=(),
            subject=None,
        )

    def as_oci(self) -> Manifest:
        if not self.is_docker:
            return self
        layers = tuple(
            replace(layer, media_type=mt.layer_media_type(mt.layer_compression(layer.media_type)))
            for layer in self.layers
        )
        return replace(
            self,
            media_type=mt.OCI_MANIFEST,
            config=replace(self.config, media_type=mt.OCI_CONFIG),
            layers=layers,
        )


@dataclass(frozen=True, slots=True)
class Index:
    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: tuple[tuple[str, str], ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST_LIST

    @classmethod
    def from_json(cls, d: dict[str, Any], media_type: str = "") -> Index:
        declared = _get(d, "mediaType", str, "index", "") or media_type or mt.OCI_INDEX
        if declared not in mt.INDEXES:
            raise ModelError(f"not an image index: media type {declared!r}")
        if d.get("schemaVersion") != 2:
            raise ModelError(f"unsupported index schemaVersion {d.get('schemaVersion')!r}")
        manifests = _get(d, "manifests", list, "index", [])
        subject = d.get("subject")
        return cls(
            manifests=tuple(
                Descriptor.from_json(x, f"index entry {i}") for i, x in enumerate(manifests)
            ),
            media_type=declared,
            annotations=tuple(sorted(_get(d, "annotations", dict, "index", {}).items())),
            subject=Descriptor.from_json(subject, "index subject")
            if isinstance(subject, dict)
            else None,
            artifact_type=_get(d, "artifactType", str, "index", ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_json() for m in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


# ---- the image config ----------------------------------------------------------------

# Container config keys in the order of Go's ImageConfig (+ Docker's extensions).
_CONFIG_KEYS = (
    "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
    "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class History:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> History:
        return cls(
            created=_get(d, "created", str, "history", ""),
            created_by=_get(d, "created_by", str, "history", ""),
            author=_get(d, "author", str, "history", ""),
            comment=_get(d, "comment", str, "history", ""),
            empty_layer=bool(d.get("empty_layer", False)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.created_by:
            out["created_by"] = self.created_by
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The image configuration (OCI config; Docker's is the same JSON with extra fields)."""

    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    created: str = ""
    author: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the container config, keys as in JSON
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[History, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level fields, kept

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageConfig:
        rootfs = _get(d, "rootfs", dict, "config", {})
        if rootfs and rootfs.get("type") not in ("layers", None):
            raise ModelError(f"config rootfs type {rootfs.get('type')!r} is not 'layers'")
        diff_ids = tuple(
            _parse_digest(x, "config rootfs diff_id")
            for x in _get(rootfs, "diff_ids", list, "rootfs", [])
        )
        known = {
            "architecture",
            "os",
            "variant",
            "os.version",
            "os.features",
            "created",
            "author",
            "config",
            "rootfs",
            "history",
        }
        return cls(
            architecture=_get(d, "architecture", str, "config", ""),
            os=_get(d, "os", str, "config", ""),
            variant=_get(d, "variant", str, "config", ""),
            os_version=_get(d, "os.version", str, "config", ""),
            os_features=tuple(_get(d, "os.features", list, "config", [])),
            created=_get(d, "created", str, "config", ""),
            author=_get(d, "author", str, "config", ""),
            config=dict(_get(d, "config", dict, "config", {})),
            diff_ids=diff_ids,
            history=tuple(
                History.from_json(h)
                for h in _get(d, "history", list, "config", [])
                if isinstance(h, dict)
            ),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["architecture"] = self.architecture
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        ordered = {k: self.config[k] for k in _CONFIG_KEYS if k in self.config}
        ordered.update({k: v for k, v in self.config.items() if k not in ordered})
        out["config"] = ordered
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def platform(self) -> PlatformSpec:
        return PlatformSpec(
            self.os, self.architecture, self.variant, self.os_version, self.os_features
        )


def parse_document(data: bytes, media_type: str = "") -> Manifest | Index:
    """A manifest or an index, from its bytes (media type from the document or the caller)."""
    try:
        d = load_json(data, "manifest")
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    declared = d.get("mediaType") or media_type
    if declared in mt.INDEXES or (not declared and "manifests" in d):
        return Index.from_json(d, media_type)
    if declared == mt.DOCKER_MANIFEST_V1_SIGNED or d.get("schemaVersion") == 1:
        raise ModelError(
            "Docker image manifest v2 schema 1 is not supported (deprecated since 2017)"
        )
    return Manifest.from_json(d, media_type)


def parse_config(data: bytes) -> ImageConfig:
    try:
        return ImageConfig.from_json(load_json(data, "image config"))
    except ValueError as exc:
        raise ModelError(str(exc)) from None


def select_platform(index: Index, wanted: Platform) -> Descriptor | None:
    """The index entry for `wanted` (containerd's matching: arm64 ~ arm64/v8, arm ~ arm/v7)."""
    best: Descriptor | None = None
    for d in index.manifests:
        if d.platform is None or d.media_type not in mt.MANIFESTS | mt.INDEXES:
            continue
        try:
            have = d.platform.normalized()
        except Exception:
            continue
        if (have.os, have.architecture) != (wanted.os, wanted.architecture):
            continue
        if have.variant == wanted.variant:
            return d
        if best is None and (not wanted.variant or not have.variant):
            best = d
    return best
