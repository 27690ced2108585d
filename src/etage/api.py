"""The composition root: read a Dockerfile and its context, plan, check.

The CLI and Python callers use these functions; they hold no formatting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etage.errors import ContextError, EtageError, UsageError
from etage.platforms import Platform

if TYPE_CHECKING:
    from etage.checks.runner import CheckReport
    from etage.dockerfile.parse import Dockerfile
    from etage.engine.cache_prune import BuildCacheUsage
    from etage.engine.export import BuiltImage
    from etage.engine.options import BuildOptions
    from etage.engine.result import BuildResult
    from etage.events import Listener
    from etage.oci.gc import PruneResult, Usage
    from etage.oci.store import ContentStore
    from etage.oci.validate import Report as ValidationReport
    from etage.plan.model import BuildPlan
    from etage.registry.client import RegistryClient
    from etage.rewrite.fix import FixResult
    from etage.rewrite.merge import MergeResult
    from etage.transfer import LocalImage, Progress


@dataclass(frozen=True, slots=True)
class Source:
    """Where a Dockerfile came from."""

    context: Path
    dockerfile: Path | None  # None when read from stdin
    display_name: str  # how messages name it: "Dockerfile", "app/Dockerfile", "-"


def locate(context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None) -> Source:
    """Resolve the context directory and the Dockerfile as `docker build` does."""
    ctx = Path(context)
    if not ctx.exists():
        raise ContextError(f"build context {str(ctx)!r} does not exist")
    if not ctx.is_dir():
        raise ContextError(f"build context {str(ctx)!r} is not a directory")
    if dockerfile is not None and str(dockerfile) == "-":
        return Source(ctx, None, "-")
    path = Path(dockerfile) if dockerfile is not None else ctx / "Dockerfile"
    if dockerfile is None and not path.exists() and (ctx / "dockerfile").is_file():
        path = ctx / "dockerfile"  # the docker CLI falls back to the lower-case name
    if not path.exists():
        hint = None
        if dockerfile is None:
            candidates = sorted(p.name for p in ctx.glob("*ockerfile*") if p.is_file())
            hint = (
                f"use -f to pick one of: {', '.join(candidates)}"
                if candidates
                else "create a Dockerfile or pass -f PATH"
            )
        raise ContextError(f"no Dockerfile at {str(path)!r}", hint=hint)
    if path.is_dir():
        raise ContextError(f"{str(path)!r} is a directory, not a Dockerfile")
    # Name the file as the user sees it: relative to the working directory when it is
    # below it, else relative to the context (as `docker build` names it), else in full.
    display = str(path)
    for base in (Path.cwd(), ctx):
        try:
            rel = os.path.relpath(path.resolve(), base.resolve())
        except ValueError:
            continue
        if not rel.startswith(".."):
            display = rel
            break
    return Source(ctx, path, display)


def read_dockerfile(source: Source, data: bytes | None = None) -> Dockerfile:
    from etage.dockerfile.parse import parse_dockerfile

    if data is None:
        data = read_dockerfile_bytes(source)
    # Keep bytes that are not UTF-8 as they are (BuildKit does not decode the file).
    text = data.decode("utf-8", "surrogateescape")
    return parse_dockerfile(text, source.display_name)


def read_dockerfile_bytes(source: Source) -> bytes:
    if source.dockerfile is None:
        data = sys.stdin.buffer.read()
    else:
        try:
            data = source.dockerfile.read_bytes()
        except OSError as exc:
            raise ContextError(f"cannot read {source.display_name}: {exc.strerror}") from None
    return data


def parse_build_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` items; a bare `KEY` takes its value from the environment (docker's rule)."""
    out: dict[str, str] = {}
    for item in pairs:
        key, has_value, value = item.partition("=")
        if key == "":
            raise UsageError(f"invalid --build-arg {item!r}", hint="use --build-arg KEY=VALUE")
        if has_value:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def plan_build(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> BuildPlan:
    from etage.plan.graph import PlanOptions, build_plan

    source = locate(context, dockerfile)
    df = read_dockerfile(source)
    return build_plan(
        df,
        PlanOptions(
            target=target,
            build_args=dict(build_args or {}),
            target_platform=Platform.parse(platform) if platform else None,
        ),
    )


def check(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> CheckReport:
    """Run the static checks on a Dockerfile and its build context."""
    from etage.checks.context import CheckInput
    from etage.checks.runner import run_checks
    from etage.plan.graph import PlanOptions, build_plan
    from etage.runtime.context import load_ignore

    source = locate(context, dockerfile)
    df = read_dockerfile(source)
    options = PlanOptions(
        target=target,
        build_args=dict(build_args or {}),
        target_platform=Platform.parse(platform) if platform else None,
    )
    the_plan = build_plan(df, options)
    default_plan = build_plan(df, replace(options, build_args={})) if build_args else the_plan
    ignore = load_ignore(source.context, source.dockerfile)
    ci = CheckInput(
        the_plan,
        context_dir=source.context,
        ignore=ignore,
        explicit_target=target is not None,
        default_plan=default_plan,
    )
    return run_checks(ci)


def fix(path: str | os.PathLike[str]) -> FixResult:
    """What `etage fix` makes of a Dockerfile (nothing is written here)."""
    from etage.rewrite.fix import fix_dockerfile

    path = Path(path)
    return fix_dockerfile(_read_text(path), str(path))


def merge(paths: list[Path]) -> MergeResult:
    """One multi-stage Dockerfile from per-environment ones (nothing is written here)."""
    from etage.rewrite.merge import merge_dockerfiles

    if len(paths) < 2:
        raise UsageError("merge needs at least two Dockerfiles")
    return merge_dockerfiles([(str(p), _read_text(p)) for p in paths])


def check_image(
    reference: str,
    *,
    root: str | os.PathLike[str] | None = None,
    context: str | os.PathLike[str] | None = None,
) -> CheckReport:
    """The image checks on an image of the store: what it holds that it should not."""
    from etage.cache.index import CacheIndex
    from etage.insight.inspect import check_report, image_findings
    from etage.runtime.snapshots import SnapshotStore
    from etage.transfer import ImageNotFound

    store = open_store(root)
    cache = CacheIndex(store.root)
    try:
        with store.lease():
            ctx = Path(context) if context is not None else None
            opened, findings = image_findings(
                store, SnapshotStore(store.root), cache, reference, context=ctx
            )
        return check_report(opened, findings)
    except ImageNotFound as exc:  # bad input, as a missing Dockerfile is for `check`
        raise UsageError(exc.message, hint=exc.hint) from None
    finally:
        cache.close()
        store.close()


def report_data(
    reference: str | None, *, root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """What `etage report` shows of an image (None: the last one built in the store)."""
    from etage.cache.index import CacheIndex
    from etage.cache.replay import LAST_BUILD
    from etage.insight.inspect import report_data as gather_report
    from etage.runtime.snapshots import SnapshotStore

    store = open_store(root)
    cache = CacheIndex(store.root)
    try:
        if reference is None:
            try:
                reference = (store.root / LAST_BUILD).read_text().strip()
            except FileNotFoundError:
                raise UsageError(
                    "no build yet in this store", hint="etage report IMAGE names an image"
                ) from None
        with store.lease():
            return gather_report(store, SnapshotStore(store.root), cache, reference)
    finally:
        cache.close()
        store.close()


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EtageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise EtageError(f"{path}: cannot read: {exc.strerror}") from None


# ---- images: the store, registries, archives -------------------------------------------------


def open_store(root: str | os.PathLike[str] | None = None) -> ContentStore:
    from etage.oci.store import ContentStore

    return ContentStore(Path(root) if root is not None else None)


def registry_client(insecure_registries: tuple[str, ...] = ()) -> RegistryClient:
    from etage.registry.client import RegistryClient

    return RegistryClient(insecure_registries=insecure_registries)


def pull(
    reference: str,
    *,
    root: str | os.PathLike[str] | None = None,
    platform: str | None = None,
    insecure_registries: tuple[str, ...] = (),
    progress: Progress | None = None,
    jobs: int = 4,
) -> LocalImage:
    from etage import transfer

    store = open_store(root)
    client = registry_client(insecure_registries)
    try:
        return transfer.pull(
            store,
            client,
            reference,
            platform=Platform.parse(platform) if platform else None,
            progress=progress,
            jobs=jobs,
        )
    finally:
        client.close()
        store.close()


def push(
    source: str,
    destination: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    platform: str | None = None,
    insecure_registries: tuple[str, ...] = (),
    progress: Progress | None = None,
    fmt: str | None = None,
) -> tuple[str, str]:
    from etage import transfer

    store = open_store(root)
    client = registry_client(insecure_registries)
    try:
        ref, digest = transfer.push(
            store,
            client,
            source,
            destination,
            platform=Platform.parse(platform) if platform else None,
            progress=progress,
            fmt=fmt,
        )
        return str(ref), str(digest)
    finally:
        client.close()
        store.close()


def save(
    references: list[str],
    output: str | os.PathLike[str],
    *,
    fmt: str = "oci",
    root: str | os.PathLike[str] | None = None,
    platform: str | None = None,
) -> list[LocalImage]:
    from etage import transfer

    if fmt not in ("oci", "docker"):
        raise UsageError(f"unknown format {fmt!r}", hint="use --format oci or --format docker")
    store = open_store(root)
    try:
        with store.lease():
            return transfer.save(
                store,
                references,
                Path(output),
                fmt=fmt,
                platform=Platform.parse(platform) if platform else None,
                directory=str(output).endswith("/"),
            )
    finally:
        store.close()


def load(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None) -> list[str]:
    from etage import transfer

    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {p}")
    store = open_store(root)
    try:
        return transfer.load(store, p)
    finally:
        store.close()


def tag(source: str, target: str, *, root: str | os.PathLike[str] | None = None) -> str:
    from etage import transfer
    from etage.reference import parse_reference

    store = open_store(root)
    try:
        image = transfer.resolve_local(store, source)
        name = str(parse_reference(target))
        store.set_ref(name, image.top.digest, image.top.media_type, image.top.size)
        return name
    finally:
        store.close()


def rmi(
    references: list[str], *, root: str | os.PathLike[str] | None = None
) -> tuple[list[str], int]:
    """Remove references; then free the blobs no other reference uses. (names, bytes freed)"""
    from etage.oci.gc import prune
    from etage.reference import parse_reference
    from etage.transfer import ImageNotFound

    store = open_store(root)
    try:
        removed = []
        for text in references:
            name = str(parse_reference(text))
            if not store.delete_ref(name):
                raise ImageNotFound(f"image {text} is not in the store", hint="see `etage images`")
            removed.append(name)
        return removed, prune(store).bytes
    finally:
        store.close()


@dataclass(frozen=True, slots=True)
class ImageRow:
    name: str
    digest: str
    media_type: str
    created: str
    size: int  # compressed bytes of the image's blobs (config + layers)
    platform: str


def images(*, root: str | os.PathLike[str] | None = None) -> list[ImageRow]:
    from etage.transfer import ImageNotFound, resolve_local

    store = open_store(root)
    try:
        rows = []
        for ref in store.refs():
            try:
                image = resolve_local(store, ref.name)
            except (ImageNotFound, EtageError):
                rows.append(ImageRow(ref.name, str(ref.digest), ref.media_type, "", 0, "?"))
                continue
            size = sum(d.size for d in image.blobs)
            rows.append(
                ImageRow(
                    ref.name,
                    str(ref.digest),
                    ref.media_type,
                    image.config.created,
                    size,
                    str(image.config.platform),
                )
            )
        return rows
    finally:
        store.close()


def inspect(
    reference: str,
    *,
    root: str | os.PathLike[str] | None = None,
    platform: str | None = None,
    remote: bool = False,
    insecure_registries: tuple[str, ...] = (),
) -> dict[str, object]:
    """Manifest, config and layers of an image, from the store (or the registry with remote)."""
    import json as _json

    from etage.oci.model import Index, parse_config, parse_document, select_platform
    from etage.platforms import host
    from etage.reference import parse_reference
    from etage.transfer import ImageNotFound, resolve_local

    wanted = Platform.parse(platform) if platform else host()
    if not remote:
        store = open_store(root)
        try:
            image = resolve_local(store, reference, wanted)
            manifest_bytes = store.read(image.descriptor.digest)
            source = "store"
            name = image.name or reference
            top_digest = str(image.top.digest)
            manifest_digest = str(image.descriptor.digest)
            manifest, config_bytes, config = image.manifest, image.config_bytes, image.config
        except ImageNotFound:
            remote = True
        finally:
            store.close()
    if remote:
        ref = parse_reference(reference)
        client = registry_client(insecure_registries)
        try:
            top, data = client.resolve(ref)
            doc = parse_document(data, top.media_type)
            top_digest, desc = str(top.digest), top
            while isinstance(doc, Index):
                chosen = select_platform(doc, wanted)
                if chosen is None:
                    raise ImageNotFound(f"{ref.familiar()} has no image for {wanted}")
                data = client.get_manifest(ref, str(chosen.digest))
                desc, doc = chosen, parse_document(data, chosen.media_type)
            manifest, manifest_bytes = doc, data
            manifest_digest = str(desc.digest)
            config_bytes = client.get_blob_bytes(ref, manifest.config)
            config = parse_config(config_bytes)
            source, name = f"registry {ref.domain}", str(ref)
        finally:
            client.close()
    layers = []
    for i, layer in enumerate(manifest.layers):
        layers.append(
            {
                "digest": str(layer.digest),
                "size": layer.size,
                "mediaType": layer.media_type,
                "diff_id": str(config.diff_ids[i]) if i < len(config.diff_ids) else None,
            }
        )
    return {
        "name": name,
        "source": source,
        "digest": top_digest,
        "manifest_digest": manifest_digest,
        "mediaType": manifest.media_type,
        "platform": str(config.platform),
        "created": config.created,
        "size": manifest.config.size + sum(layer.size for layer in manifest.layers),
        "layers": layers,
        "manifest": _json.loads(manifest_bytes),
        "config": _json.loads(config_bytes),
    }


def df(*, root: str | os.PathLike[str] | None = None) -> Usage:
    from etage.oci.gc import usage

    store = open_store(root)
    try:
        return usage(store)
    finally:
        store.close()


def build_cache_usage(*, root: str | os.PathLike[str] | None = None) -> BuildCacheUsage:
    """The build cache's size (snapshots, cached steps, RUN cache mounts)."""
    from etage.engine.cache_prune import build_cache_usage as usage
    from etage.oci.root import default_root

    return usage(Path(root) if root else default_root())


def prune_build_cache(
    *,
    root: str | os.PathLike[str] | None = None,
    cache_mounts: bool = False,
    dry_run: bool = False,
) -> BuildCacheUsage:
    """Remove the build cache (and RUN cache mounts with `cache_mounts`); what went."""
    from etage.engine.cache_prune import prune_build_cache as prune_cache
    from etage.oci.root import default_root

    return prune_cache(
        Path(root) if root else default_root(), cache_mounts=cache_mounts, dry_run=dry_run
    )


def prune(*, root: str | os.PathLike[str] | None = None, dry_run: bool = False) -> PruneResult:
    from etage.oci.gc import prune as gc_prune

    store = open_store(root)
    try:
        return gc_prune(store, dry_run=dry_run)
    finally:
        store.close()


def verify(
    references: list[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    deep: bool = True,
) -> ValidationReport:
    """Check the store: every image's blobs present, of the right size and digest."""
    from etage.oci.model import Descriptor
    from etage.oci.validate import Report, validate_image, validate_store
    from etage.transfer import resolve_local

    store = open_store(root)
    try:
        if not references:
            return validate_store(store, deep=deep)
        report = Report()
        for text in references:
            image = resolve_local(store, text)
            validate_image(
                store, Descriptor(image.top.media_type, image.top.digest, image.top.size), report,
                deep=deep,
            )  # fmt: skip
        return report
    finally:
        store.close()


def unpack(
    reference: str,
    directory: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    platform: str | None = None,
) -> int:
    """Extract an image's filesystem into a directory; returns the entries applied."""
    from etage import transfer

    store = open_store(root)
    try:
        _image, entries = transfer.unpack(
            store,
            reference,
            Path(directory),
            platform=Platform.parse(platform) if platform else None,
        )
        return entries
    finally:
        store.close()


def build(
    context: str | os.PathLike[str] = ".",
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    tags: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
    no_cache: bool = False,
    no_cache_filter: list[str] | tuple[str, ...] = (),
    pull: bool = False,
    platform: str | None = None,
    secrets: list[str] | tuple[str, ...] = (),
    build_contexts: list[str] | tuple[str, ...] = (),
    jobs: int = 0,
    root: str | os.PathLike[str] | None = None,
    insecure_registries: tuple[str, ...] = (),
    iidfile: str | os.PathLike[str] | None = None,
    metadata_file: str | os.PathLike[str] | None = None,
    listener: Listener | None = None,
    explain_cache: bool = False,
) -> BuildResult:
    """Build a Dockerfile: `outputs` use buildx syntax (type=oci,dest=x.tar ...); `tags`
    name the image in the local store. Returns the image digest and every step's result."""
    from etage.engine.options import (
        BuildOptions,
        parse_build_context,
        parse_output,
        parse_secret,
    )
    from etage.events import ignore

    source = locate(context, dockerfile)
    data = read_dockerfile_bytes(source)
    options = BuildOptions(
        context=source.context,
        dockerfile=source.dockerfile,
        target=target,
        build_args=dict(build_args or {}),
        tags=tuple(tags),
        outputs=tuple(parse_output(o, tuple(tags)) for o in outputs),
        labels=dict(labels or {}),
        no_cache=no_cache,
        no_cache_filter=tuple(no_cache_filter),
        pull=pull,
        platform=platform,
        secrets=tuple(parse_secret(s) for s in secrets),
        build_contexts=tuple(parse_build_context(c) for c in build_contexts),
        jobs=jobs,
        root=Path(root) if root is not None else None,
        insecure_registries=insecure_registries,
        iidfile=Path(iidfile) if iidfile else None,
        metadata_file=Path(metadata_file) if metadata_file else None,
    )
    listener = listener or ignore
    if options.iidfile is not None:  # as buildx: no stale digest if this build fails
        options.iidfile.unlink(missing_ok=True)
    if not explain_cache:
        options = _with_replay_key(options, source, data)
        if options.replay_key is not None:
            replayed = _replay(options, source, listener)
            if replayed is not None:
                return replayed
    from etage.engine.run import build as run_build

    df = read_dockerfile(source, data)
    return run_build(options, df, source.display_name, listener=listener, explain=explain_cache)


def _with_replay_key(options: BuildOptions, source: Source, data: bytes) -> BuildOptions:
    """Options carrying the replay fingerprint, if this request can be replayed at all."""
    from etage.cache import replay

    if (
        source.dockerfile is None
        or options.no_cache
        or options.no_cache_filter
        or options.pull
        or any(o.type != "image" or o.push for o in options.outputs)
    ):
        return options
    context = os.path.realpath(source.context)
    dockerfile = os.path.realpath(source.dockerfile)
    key = replay.request_fingerprint(
        context=context,
        dockerfile=dockerfile,
        display=source.display_name,
        target=options.target,
        build_args=dict(options.build_args),
        tags=list(options.tags),
        outputs=[[o.type, list(o.names)] for o in options.outputs],
        labels=dict(options.labels),
        platform=options.platform,
        secrets=[[s.id, str(s.src) if s.src else None, s.env] for s in options.secrets],
        contexts=[[c.name, c.kind, c.value] for c in options.build_contexts],
        epoch=options.source_date_epoch,
        insecure=list(options.insecure_registries),
    )
    files = tuple(replay.input_files(context, dockerfile, data))
    return replace(options, replay_key=key, replay_files=files)


def _replay(options: BuildOptions, source: Source, listener: Listener) -> BuildResult | None:
    """The result of the same build done before, if nothing it read has changed."""
    import json
    import time

    from etage.cache import replay
    from etage.engine.result import BuildResult, StageSummary, StepResult
    from etage.events import BuildDone, BuildStarted, BuildSummary, Message, StepDone, StepStarted
    from etage.oci.root import default_root

    started = time.monotonic()
    root = os.path.abspath(options.root or default_root())
    doc = replay.lookup(root, options.replay_key or "")
    if doc is None:
        return None
    if any(doc["files"][i][1] != h for i, (_, h) in enumerate(options.replay_files)):
        return None
    head = doc["started"]
    listener(BuildStarted(head["target"], tuple(head["stages"]), tuple(head["pruned"])))
    for step, stage, line, text in doc["steps"]:
        listener(StepStarted(step, stage, line, text))
        listener(StepDone(step, cached=True, duration=0.0))
    metadata = doc["metadata"]
    replay.note_last_build(root, doc["digest"])
    if options.iidfile is not None:
        options.iidfile.write_text(doc["digest"])
    if options.metadata_file is not None:
        options.metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
    duration = time.monotonic() - started
    listener(BuildDone(doc["digest"], duration, tuple(doc["names"])))
    if "etage.build.summary" in metadata:
        listener(BuildSummary(metadata["etage.build.summary"]))
    if doc["warnings"]:
        listener(
            Message("warning", "build args not consumed by any ARG: " + ", ".join(doc["warnings"]))
        )
    stages = tuple(
        StageSummary(
            label,
            tuple(
                StepResult(**{**s, "cached": True, "duration": 0.0, "explain": ""}) for s in steps
            ),
        )
        for label, steps in doc["stages"]
    )

    def load() -> tuple[BuildPlan, BuiltImage]:
        from etage.engine.export import load_built_image
        from etage.plan.graph import PlanOptions, build_plan

        df = read_dockerfile(source)
        plan = build_plan(
            df,
            PlanOptions(
                target=options.target,
                build_args=dict(options.build_args),
                target_platform=Platform.parse(options.platform) if options.platform else None,
                named_contexts=frozenset(c.name for c in options.build_contexts),
            ),
        )
        return plan, load_built_image(Path(root), doc["digest"])

    return BuildResult(
        doc["digest"], doc["config_digest"], tuple(doc["names"]), stages, duration, metadata,
        replayed=True, _load=load,
    )  # fmt: skip
