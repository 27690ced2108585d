"""What every stage of one build shares: the store, snapshots, runtime, cache, options."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etage.cache.index import CacheIndex
from etage.dockerfile.ignore import DockerIgnore
from etage.dockerfile.parse import Dockerfile
from etage.engine.options import BuildOptions
from etage.events import Event, Listener, StepStarted
from etage.oci.store import ContentStore
from etage.plan.model import BuildPlan
from etage.platforms import Platform
from etage.runtime.snapshots import SnapshotStore

if TYPE_CHECKING:
    from etage.engine.bases import BaseResolver
    from etage.engine.state import StageResult
    from etage.runtime.checksum import StatCache
    from etage.runtime.executor import Executor


@dataclass
class BuildSession:
    options: BuildOptions
    dockerfile: Dockerfile
    plan: BuildPlan
    store: ContentStore
    snapshots: SnapshotStore
    snapshotter: Any  # OverlaySnapshotter or CopySnapshotter (prepare/view)
    executor: Executor
    cache: CacheIndex
    stat_cache: StatCache
    bases: BaseResolver
    context_dir: Path
    ignore: DockerIgnore
    platform: Platform
    listener: Listener
    dockerfile_key: str  # names the Dockerfile in cache slots
    secrets: dict[str, bytes] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    results: dict[int, Future[StageResult]] = field(default_factory=dict)
    epoch: int | None = None
    explain: bool = False
    cache_mounts_dir: Path | None = None
    # For the no-op replay (etage.cache.replay): the context paths the build read, and
    # whether everything it read can be witnessed that way.
    witness_paths: set[str] = field(default_factory=set)
    replayable: bool = True
    step_events: list[list[Any]] = field(default_factory=list)  # each step as it started
    view_snapshots: dict[str, str] = field(default_factory=dict)  # mounted view -> snapshot
    # The stages whose layers the image holds (the target and the stages it is FROM), and
    # the export.LayerExporter that writes them as they commit.
    image_stages: frozenset[int] = frozenset()
    exporter: Any = None
    job_slots: threading.Semaphore = field(default_factory=threading.Semaphore)  # --jobs
    _holding: threading.local = field(default_factory=threading.local)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            with self._guard:
                self.step_events.append([event.step, event.stage, event.line, event.text])
        self.listener(event)

    def lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def read_context(self, paths: tuple[str, ...] | None) -> None:
        """Note what a checksum of context files covered (None: more than it can name)."""
        with self._guard:
            if paths is None:
                self.replayable = False
            else:
                self.witness_paths.update(paths)

    @contextlib.contextmanager
    def job_slot(self) -> Iterator[None]:
        """Run a stage in one of the --jobs slots."""
        with self.job_slots:
            self._holding.slot = True
            try:
                yield
            finally:
                self._holding.slot = False

    def stage_result(self, index: int) -> StageResult:
        """Another stage's result, waiting for it without holding a job slot."""
        future = self.results[index]
        if future.done() or not getattr(self._holding, "slot", False):
            return future.result()
        self.job_slots.release()
        try:
            future.exception()  # wait; a failure is raised below, after the slot is back
        finally:
            self.job_slots.acquire()
        return future.result()
