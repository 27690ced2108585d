"""Runs the stages a target needs: independent ones in parallel, each as soon as the
stages it uses are done, never more than `jobs` at once."""

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
    deps = {i: {d for d in s.depends_on if d in needed} for i, s in needed.items()}
    users: dict[int, set[int]] = {i: set() for i in needed}
    for i, ds in deps.items():
        for d in ds:
            users[d].add(i)
    # By default every stage that is ready runs, as BuildKit runs them (a stage waiting
    # on the network or a sleep needs no CPU); --jobs bounds them.
    jobs = session.options.jobs or len(needed)
    futures: dict[int, Future[StageResult]] = {i: Future() for i in needed}
    session.results = futures
    lock = threading.Lock()
    remaining = {i: len(ds) for i, ds in deps.items()}
    failed: list[BaseException] = []
    all_done = threading.Event()
    done_count = [0]

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="etage-stage")

    def finish(index: int, result: StageResult | None, error: BaseException | None) -> None:
        ready: list[int] = []
        with lock:
            if error is not None:
                if not failed:
                    failed.append(error)
                    session.cancel.set()
                futures[index].set_exception(error)
            else:
                futures[index].set_result(result)  # type: ignore[arg-type]
                for user in users[index]:
                    remaining[user] -= 1
                    if remaining[user] == 0 and not failed:
                        ready.append(user)
            done_count[0] += 1
            if error is not None:
                # stages that can no longer start count as done
                blocked = _blocked_by(index, users)
                for b in blocked:
                    if not futures[b].done() and remaining.get(b, 0) > 0:
                        futures[b].set_exception(error)
                        remaining[b] = -1
                        done_count[0] += 1
            if done_count[0] >= len(needed):
                all_done.set()
        for r in sorted(ready):
            submit(r)

    def run_stage(index: int) -> None:
        try:
            result = StageBuilder(session, needed[index]).run()
        except BaseException as exc:  # reported through the future; the first one is raised
            finish(index, None, exc)
            return
        finish(index, result, None)

    def submit(index: int) -> None:
        if session.cancel.is_set():
            finish(index, None, KeyboardInterrupt())
            return
        pool.submit(run_stage, index)

    try:
        for i in sorted(needed):
            if remaining[i] == 0:
                submit(i)
        while not all_done.wait(0.2):
            pass
    except KeyboardInterrupt:
        session.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failed:
        raise failed[0]
    return futures[plan.target].result()


def _blocked_by(index: int, users: dict[int, set[int]]) -> set[int]:
    out: set[int] = set()
    todo = list(users.get(index, ()))
    while todo:
        i = todo.pop()
        if i not in out:
            out.add(i)
            todo.extend(users.get(i, ()))
    return out
