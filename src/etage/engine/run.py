"""A whole build: frontend -> plan -> stages -> image -> outputs. The API and the CLI call it."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from etage.cache.index import CacheIndex
from etage.cache.replay import note_last_build
from etage.dockerfile.parse import Dockerfile
from etage.engine.bases import BaseResolver
from etage.engine.export import BuiltImage, LayerExporter, assemble, write_outputs
from etage.engine.options import BuildOptions
from etage.engine.result import BuildResult, StageSummary
from etage.engine.session import BuildSession
from etage.engine.solver import solve
from etage.engine.summary import build_summary, check_built_image
from etage.errors import EtageError
from etage.events import BuildDone, BuildStarted, BuildSummary, Listener, Message, ignore
from etage.insight import snapshot_facts
from etage.oci.model import Descriptor
from etage.oci.store import ContentStore
from etage.plan.graph import PlanOptions, build_plan
from etage.platforms import Platform, host


def source_date_epoch(options: BuildOptions) -> int | None:
    value = options.source_date_epoch
    if value is None:
        raw = options.build_args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
        if raw:
            try:
                value = int(raw)
            except ValueError:
                raise EtageError(
                    f"SOURCE_DATE_EPOCH must be a number of seconds, not {raw!r}"
                ) from None
    return value


def build(
    options: BuildOptions,
    dockerfile: Dockerfile,
    dockerfile_path: str,
    *,
    listener: Listener = ignore,
    explain: bool = False,
    cancel: threading.Event | None = None,
) -> BuildResult:
    from etage.runtime.checksum import StatCache
    from etage.runtime.context import load_ignore
    from etage.runtime.executor import LazyExecutor, reap_orphaned_runs
    from etage.runtime.snapshot_copy import default_snapshotter
    from etage.runtime.snapshots import SnapshotStore

    started = time.monotonic()
    started_ns = time.time_ns()
    platform = Platform.parse(options.platform) if options.platform else host()
    if platform != host():
        raise EtageError(
            f"--platform {platform}: only the native platform ({host()}) can be built for now",
            hint="cross-platform builds (QEMU emulation) are not supported yet",
        )
    names = frozenset(c.name for c in options.build_contexts)
    plan = build_plan(
        dockerfile,
        PlanOptions(
            target=options.target,
            build_args=dict(options.build_args),
            target_platform=platform,
            named_contexts=names,
        ),
    )
    store = ContentStore(options.root)
    reap_orphaned_runs()  # before the snapshot cleanup unmounts their root filesystems
    snapshots = SnapshotStore(store.root)
    cache = CacheIndex(store.root)
    stat_cache = StatCache(store.root / "statcache.db")
    client: list[Any] = []

    def client_factory() -> Any:
        if not client:
            from etage.registry.client import RegistryClient

            client.append(RegistryClient(insecure_registries=options.insecure_registries))
        return client[0]

    bases = BaseResolver(
        store=store,
        snapshots=snapshots,
        platform=platform,
        client_factory=client_factory,
        pull_always=options.pull,
        named={c.name: c for c in options.build_contexts},
        on_unpacked=lambda snapshot: snapshot_facts.path_sizes(cache, snapshot),
    )
    secrets = {s.id: s.read() for s in options.secrets}
    session = BuildSession(
        options=options,
        dockerfile=dockerfile,
        plan=plan,
        store=store,
        snapshots=snapshots,
        snapshotter=default_snapshotter(snapshots),
        executor=LazyExecutor(warn=lambda text: listener(Message("warning", text))),
        cache=cache,
        stat_cache=stat_cache,
        bases=bases,
        context_dir=options.context,
        ignore=load_ignore(options.context, options.dockerfile),
        platform=platform,
        listener=listener,
        dockerfile_key=f"{options.context.resolve()}|{dockerfile_path}",
        secrets=secrets,
        cancel=cancel or threading.Event(),
        epoch=source_date_epoch(options),
        explain=explain,
    )
    listener(
        BuildStarted(
            plan.target_stage.label,
            tuple(s.label for s in plan.needed),
            tuple(s.label for s in plan.pruned),
        )
    )
    session.image_stages = plan.image_stages
    session.exporter = LayerExporter(session)
    try:
        with store.lease():  # until the image checks have read the build's snapshots
            try:
                result = solve(session)
                image = assemble(session, result, dict(options.labels))
                summary = build_summary(session, result, image)
            finally:
                session.exporter.close()
            given, reported = write_outputs(session, image, options.tags)
            summary["image"]["digest"] = str(image.manifest.digest)
            summary["image"]["names"] = given
            summary["target"] = plan.target_stage.label
            # What the image checks need to point at the Dockerfile and read the context.
            cache.remember_summary(
                str(image.manifest.digest),
                {
                    **summary,
                    "context": str(options.context.resolve()),
                    "dockerfile_path": _dockerfile_file(options, dockerfile_path),
                },
            )
            summary["findings"] = check_built_image(session, image)
        stages = _stage_summaries(session, image)
        metadata = _metadata(image, given, reported)
        metadata["etage.build.summary"] = summary
        note_last_build(str(store.root), str(image.manifest.digest))
        if options.replay_key is not None and session.replayable and not explain:
            _record_replay(session, started_ns, image, given, stages, metadata)
    finally:
        for c in client:
            with contextlib.suppress(Exception):
                c.close()
        cache.close()
        stat_cache.close()
        store.close()
    if options.iidfile is not None:
        options.iidfile.write_text(str(reported.digest))
    if options.metadata_file is not None:
        options.metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
    duration = time.monotonic() - started
    listener(BuildDone(str(reported.digest), duration, tuple(given)))
    listener(BuildSummary(summary))
    if plan.unused_build_args:
        listener(
            Message(
                "warning",
                "build args not consumed by any ARG: " + ", ".join(plan.unused_build_args),
            )
        )
    return BuildResult(
        str(reported.digest), str(image.config.digest), tuple(given), tuple(stages),
        duration, metadata, _plan=plan, _image=image,
    )  # fmt: skip


def _dockerfile_file(options: BuildOptions, display: str) -> str:
    if display == "-":
        return ""  # read from standard input
    return str((options.dockerfile or options.context / "Dockerfile").resolve())


def _stage_summaries(session: BuildSession, image: BuiltImage) -> list[StageSummary]:
    layers = image.snapshot_layers
    stages = []
    for index in sorted(session.results):
        fut = session.results[index]
        if fut.done() and fut.exception() is None:
            r = fut.result()
            steps = tuple(
                replace(s, layer=layers[s.snapshot]) if s.snapshot and s.snapshot in layers else s
                for s in r.steps
            )
            stages.append(StageSummary(r.label, steps))
    return stages


def _metadata(image: BuiltImage, given: list[str], reported: Descriptor) -> dict[str, Any]:
    return {
        "containerimage.digest": str(reported.digest),
        "containerimage.config.digest": str(image.config.digest),
        "containerimage.descriptor": reported.to_json(),
        "image.name": ",".join(given),
    }


def _record_replay(  # noqa: PLR0917
    session: BuildSession,
    started_ns: int,
    image: BuiltImage,
    given: list[str],
    stages: list[StageSummary],
    metadata: dict[str, Any],
) -> None:
    """Remember this build for a later identical request (etage.cache.replay)."""
    from etage.cache import replay

    options, plan = session.options, session.plan
    witness = replay.witness(session.witness_paths, started_ns)
    if witness is None:
        return  # a file changed while or just before the build read it: do not trust
    files = [list(f) for f in options.replay_files]
    files += [[p, replay.file_hash(p)] for p in sorted(session.bases.layouts_used)]
    doc = {
        "digest": str(image.manifest.digest),
        "config_digest": str(image.config.digest),
        "names": given,
        "bases": dict(session.bases.refs_used),
        "files": files,
        "witness": witness,
        "secret_files": [str(s.src) for s in options.secrets if s.src is not None],
        "metadata": metadata,
        "started": {
            "target": plan.target_stage.label,
            "stages": [s.label for s in plan.needed],
            "pruned": [s.label for s in plan.pruned],
        },
        "steps": session.step_events,
        "stages": [[st.label, [s.to_json() for s in st.steps]] for st in stages],
        "warnings": list(plan.unused_build_args),
    }
    session.cache.save_replay(options.replay_key or "", doc)


__all__ = ["BuildResult", "Path", "build"]
