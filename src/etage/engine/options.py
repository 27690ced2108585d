"""What a build is asked to do: options, outputs (buildx syntax), secrets, named contexts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from etage.errors import EtageError, UsageError


@dataclass(frozen=True, slots=True)
class Output:
    """One `-o`/`--output`: type=image|oci|docker|local (buildx syntax)."""

    type: str
    dest: str | None = None  # a file for oci/docker (- for stdout), a directory for local
    names: tuple[str, ...] = ()  # image names (type=image / -t)
    push: bool = False
    compression: str = "gzip"
    oci_mediatypes: bool = True


@dataclass(frozen=True, slots=True)
class Secret:
    id: str
    src: Path | None = None
    env: str | None = None

    def read(self) -> bytes:
        if self.src is not None:
            try:
                return self.src.read_bytes()
            except OSError as exc:
                raise UsageError(
                    f"secret {self.id}: cannot read {self.src}: {exc.strerror}"
                ) from None
        if self.env is not None:
            if self.env not in os.environ:
                raise UsageError(f"secret {self.id}: environment variable {self.env} is not set")
            return os.environ[self.env].encode()
        raise UsageError(f"secret {self.id} has no source")


@dataclass(frozen=True, slots=True)
class NamedContext:
    """`--build-context NAME=VALUE`: an image, an OCI layout or a directory."""

    name: str
    kind: str  # "docker-image", "oci-layout", "local"
    value: str  # a reference, a layout path with [:tag|@digest], or a directory


@dataclass(frozen=True, slots=True)
class BuildOptions:
    context: Path
    dockerfile: Path | None = None  # None: CONTEXT/Dockerfile
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()
    pull: bool = False
    platform: str | None = None
    secrets: tuple[Secret, ...] = ()
    build_contexts: tuple[NamedContext, ...] = ()
    jobs: int = 0  # parallel stages; 0 = no bound (every ready stage runs, as BuildKit)
    root: Path | None = None  # the store
    insecure_registries: tuple[str, ...] = ()
    source_date_epoch: int | None = None
    iidfile: Path | None = None
    metadata_file: Path | None = None
    # Set by the API when the request may be replayed later (see etage.cache.replay):
    # the request's fingerprint, and the files read before the build (path -> sha256).
    replay_key: str | None = None
    replay_files: tuple[tuple[str, str | None], ...] = ()


def parse_output(spec: str, tags: tuple[str, ...] = ()) -> Output:
    """`type=oci,dest=x.tar`, `type=local,dest=dir`, `type=image,name=r/x:t,push=true`,
    or a bare path (`-o dir` means type=local, as buildx). An image output without a
    name takes the -t `tags`, as buildx's does."""
    if "=" not in spec.split(",", 1)[0]:
        return Output("local", dest=spec)
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise UsageError(f"invalid output {spec!r}: {part!r} is not key=value")
        fields[key.strip().lower()] = value.strip()
    kind = fields.pop("type", "")
    if kind not in ("image", "oci", "docker", "local", "registry", "tar"):
        raise UsageError(
            f"invalid output type {kind!r}",
            hint="use type=image, type=registry, type=oci, type=docker, type=local or type=tar",
        )
    names = tuple(n for n in fields.pop("name", "").split(";") if n) if "name" in fields else ()
    push = fields.pop("push", "false").lower() in ("true", "1")
    if kind == "registry":
        kind, push = "image", True
    dest = fields.pop("dest", None)
    compression = fields.pop("compression", "gzip")
    if compression not in ("gzip", "zstd", "uncompressed"):
        raise UsageError(
            f"invalid compression {compression!r}", hint="use gzip, zstd or uncompressed"
        )
    oci = fields.pop("oci-mediatypes", "true" if kind != "docker" else "false").lower() in (
        "true",
        "1",
    )
    fields.pop("force-compression", None)
    if fields:
        raise UsageError(
            f"unsupported output option(s) for type={kind}: {', '.join(sorted(fields))}"
        )
    if kind in ("oci", "docker", "tar") and not dest:
        raise UsageError(f"output type={kind} needs dest=FILE (or dest=- for standard output)")
    if kind == "local" and not dest:
        raise UsageError("output type=local needs dest=DIRECTORY")
    if kind == "image" and not names:
        names = tuple(tags)
    if kind == "image" and push and not names:
        raise UsageError("output type=image,push=true needs name=REGISTRY/REPO:TAG (or -t)")
    return Output(
        kind, dest, names, push, "none" if compression == "uncompressed" else compression, oci
    )


def parse_secret(spec: str) -> Secret:
    """`id=ID,src=FILE`, `id=ID,env=VAR`, `id=ID` (env var ID), or `ID` (buildx rules)."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            fields.setdefault("id", key)
            continue
        key = key.strip().lower()
        if key == "source":
            key = "src"
        if key == "type":
            continue
        fields[key] = value
    sid = fields.get("id") or ""
    if not sid:
        raise UsageError(
            f"invalid secret {spec!r}", hint="use --secret id=ID,src=FILE or id=ID,env=VAR"
        )
    if "src" in fields:
        return Secret(sid, src=Path(fields["src"]))
    return Secret(sid, env=fields.get("env", sid))


def context_name(name: str) -> str:
    """How BuildKit matches a FROM or --from name with a named context (dockerui's
    NamedContext): the familiar form of the reference without ":latest", so
    `FROM docker.io/library/node:latest` finds `--build-context node=...`."""
    from etage.reference import parse_reference

    try:
        return parse_reference(name).familiar().removesuffix(":latest")
    except EtageError:
        return name


def find_context(contexts: tuple[NamedContext, ...], name: str) -> NamedContext | None:
    key = context_name(name)
    for context in contexts:
        if context.name in (key, name):
            return context
    return None


def parse_build_context(spec: str) -> NamedContext:
    name, eq, value = spec.partition("=")
    if not eq or not name or not value:
        raise UsageError(
            f"invalid --build-context {spec!r}",
            hint="use NAME=docker-image://REF, NAME=oci-layout:///PATH[:TAG|@DIGEST] or NAME=DIR",
        )
    if value.startswith("docker-image://"):
        return NamedContext(name, "docker-image", value.removeprefix("docker-image://"))
    if value.startswith("oci-layout://"):
        return NamedContext(name, "oci-layout", value.removeprefix("oci-layout://"))
    if "://" in value:
        raise UsageError(f"unsupported build context source {value!r}")
    return NamedContext(name, "local", value)
