"""Runs the stages a target needs: each as soon as the stage it starts FROM is done,
independent ones in parallel, never more than `jobs` at once.

As in BuildKit, a stage does not wait for the stages it copies from before it starts:
its steps run until a `COPY --from` or `RUN --mount=from=` needs another stage's result,
and that step waits for it (BuildSession.stage_result). A waiting stage gives its job slot
back, so a bound on jobs cannot deadlock."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from etage.engine.session import BuildSession
from etage.engine.stage import StageBuilder
from etage.engine.state import StageResult


def solve(session: BuildSession) -> StageResult:
    """Build every needed stage; return the target's result. Stops all on the first error."""
    plan = session.plan
    needed = {s.index: s for s in plan.stages if s.needed}
    users: dict[int, set[int]] = {i: set() for i in needed}  # stages FROM each stage
    for i, s in needed.items():
        if s.base_stage in needed:
            users[s.base_stage].add(i)
    # By default every stage that is ready runs, as BuildKit runs them (a stage waiting
    # on the network or a sleep needs no CPU); --jobs bounds them.
    session.job_slots = threading.BoundedSemaphore(session.options.jobs or len(needed))
    futures: dict[int, Future[StageResult]] = {i: Future() for i in needed}
    session.results = futures
    lock = threading.Lock()
    failed: list[BaseException] = []
    all_done = threading.Event()

    def finish(index: int, result: StageResult | None, error: BaseException | None) -> None:
        with lock:
            if futures[index].done():  # already failed for its base
                return
            if error is None:
                futures[index].set_result(result)  # type: ignore[arg-type]
            else:
                if not failed:
                    failed.append(error)
                    session.cancel.set()
                futures[index].set_exception(error)
                # Stages FROM it can no longer start; steps waiting for it wake with the error.
                for b in _users_of(index, users):
                    if not futures[b].done():
                        futures[b].set_exception(error)
            if all(f.done() for f in futures.values()):
                all_done.set()
        if error is None:
            for user in sorted(users[index]):
                submit(user)

    def run_stage(index: int) -> None:
        try:
            with session.job_slot():
                result = StageBuilder(session, needed[index]).run()
        except BaseException as exc:  # reported through the future; the first one is raised
            finish(index, None, exc)
            return
        finish(index, result, None)

    # One thread per stage: a thread waiting for another stage holds no job slot.
    pool = ThreadPoolExecutor(max_workers=len(needed), thread_name_prefix="etage-stage")

    def submit(index: int) -> None:
        if session.cancel.is_set():
            finish(index, None, KeyboardInterrupt())
            return
        pool.submit(run_stage, index)

    try:
        for i, s in sorted(needed.items()):
            if s.base_stage not in needed:
                submit(i)
        while not all_done.wait(0.2):
            pass
    except KeyboardInterrupt:
        session.cancel.set()
        with lock:  # wake the steps waiting for a stage that will not run now
            for fut in futures.values():
                if not fut.done():
                    fut.set_exception(KeyboardInterrupt())
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failed:
        raise failed[0]
    return futures[plan.target].result()


def _users_of(index: int, users: dict[int, set[int]]) -> set[int]:
    out: set[int] = set()
    todo = list(users.get(index, ()))
    while todo:
        i = todo.pop()
        if i not in out:
            out.add(i)
            todo.extend(users.get(i, ()))
    return out
