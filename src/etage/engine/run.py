"""A whole build: frontend -> plan -> stages -> image -> outputs. The API and the CLI call it."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etage.cache.index import CacheIndex
from etage.dockerfile.parse import Dockerfile
from etage.engine.bases import BaseResolver
from etage.engine.export import BuiltImage, assemble, write_outputs
from etage.engine.options import BuildOptions
from etage.engine.session import BuildSession
from etage.engine.solver import solve
from etage.engine.state import StepResult
from etage.errors import EtageError
from etage.events import BuildDone, BuildStarted, Listener, Message, ignore
from etage.oci.store import ContentStore
from etage.plan.graph import PlanOptions, build_plan
from etage.plan.model import BuildPlan
from etage.platforms import Platform, host


@dataclass(frozen=True, slots=True)
class StageSummary:
    label: str
    steps: tuple[StepResult, ...]


@dataclass(frozen=True, slots=True)
class BuildResult:
    digest: str  # the image manifest's digest in the store
    config_digest: str
    names: tuple[str, ...]
    plan: BuildPlan
    image: BuiltImage
    stages: tuple[StageSummary, ...]
    duration: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> tuple[StepResult, ...]:
        return tuple(s for st in self.stages for s in st.steps)


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
    try:
        with store.lease():
            result = solve(session)
            image = assemble(session, result, dict(options.labels))
            given = write_outputs(session, image, options.tags)
    finally:
        for c in client:
            with contextlib.suppress(Exception):
                c.close()
        cache.close()
        stat_cache.close()
        store.close()
    stages = []
    for index in sorted(session.results):
        fut = session.results[index]
        if fut.done() and fut.exception() is None:
            r = fut.result()
            stages.append(StageSummary(r.label, r.steps))
    metadata = {
        "containerimage.digest": str(image.manifest.digest),
        "containerimage.config.digest": str(image.config.digest),
        "containerimage.descriptor": image.manifest.to_json(),
        "image.name": ",".join(given),
    }
    if options.iidfile is not None:
        options.iidfile.write_text(str(image.manifest.digest))
    if options.metadata_file is not None:
        options.metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
    duration = time.monotonic() - started
    listener(BuildDone(str(image.manifest.digest), duration, tuple(given)))
    if plan.unused_build_args:
        listener(
            Message(
                "warning",
                "build args not consumed by any ARG: " + ", ".join(plan.unused_build_args),
            )
        )
    return BuildResult(
        str(image.manifest.digest), str(image.config.digest), tuple(given), plan, image,
        tuple(stages), duration, metadata,
    )  # fmt: skip


__all__ = ["BuildResult", "Path", "build"]
