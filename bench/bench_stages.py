"""Stage parallelism and unused-stage skipping: etage vs BuildKit, in one run.

Parallelism: a Dockerfile with N independent stages (default 4), each
`RUN sleep 2` plus a fresh nonce build-arg (so nothing is cached), and a final stage
copying one file from each. Built cold (new nonce each time) by etage (its default
--jobs, --jobs 1 and --jobs N) and by BuildKit (dockerd 20.10, started privately; it
solves all independent stages at once). A sleep needs no CPU, so a builder that runs
every independent stage at once takes about 2 s plus its overhead, one that runs one
stage per CPU ceil(N / CPUs) * 2 s, a sequential one N * 2 s: the table shows
wall // 2 s ("sleeps in a row"), and the target is etage's default matching BuildKit.

Skipping: a Dockerfile whose stage `unused` sleeps 5 s and prints a marker, not needed
by `--target final`; built cold, timed, and the log searched for the marker (did it run?).
The same without --target (final is the last stage).

Base image: a busybox rootfs (etage.testing.busybox_rootfs, Debian's busybox-static),
packed by etage, given to etage with `etage load` and to dockerd with `docker load` of a
docker-archive written by `etage save --format docker`; both see it as `bench-busybox:1`.

    python bench/bench_stages.py [--stages 4] [--reps 3] [--sleep 2]

Everything it starts (dockerd, its mounts, scratch directories) is removed on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import os
import uuid
from pathlib import Path

import benchlib as bl

bl.reexec_in_venv()

BASE = "bench-busybox:1"


def parallel_dockerfile(n: int, sleep: float) -> str:
    lines = [f"FROM {BASE} AS s{i}\nARG NONCE\nRUN sleep {sleep} && echo $NONCE > /out{i}\n"
             for i in range(n)]  # fmt: skip
    lines.append(f"FROM {BASE} AS final\n")
    lines += [f"COPY --from=s{i} /out{i} /out{i}\n" for i in range(n)]
    return "\n".join(lines)


def skip_dockerfile(last_is_final: bool) -> str:
    unused = f"FROM {BASE} AS unused\nARG NONCE\nRUN sleep 5 && echo UNUSED_STAGE_RAN $NONCE\n"
    used = f"FROM {BASE} AS used\nARG NONCE\nRUN echo used $NONCE > /used\n"
    final = f"FROM {BASE} AS final\nCOPY --from=used /used /used\n"
    if last_is_final:
        return unused + "\n" + used + "\n" + final
    return used + "\n" + final + "\n" + unused  # `unused` is last: only --target skips it


def make_base(work: Path) -> tuple[Path, Path]:
    """The busybox image in a seed etage store, and a docker-archive of it."""
    from etage.oci.store import ContentStore
    from etage.reference import parse_reference
    from etage.testing import busybox_image
    from etage.transfer import save

    store = ContentStore(work / "seed")
    try:
        busybox_image(store, work, str(parse_reference(BASE)))
        archive = work / "busybox.docker.tar"
        with store.lease():
            save(store, [BASE], archive, fmt="docker")
        layout = work / "busybox.oci"
        with store.lease():
            save(store, [BASE], layout, directory=True)
    finally:
        store.close()
    return layout, archive


def rounds_of(wall: float, sleep: float) -> int:
    """How many of the stages' sleeps ran one after another (overheads are < one sleep)."""
    return max(1, int(wall // sleep))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="N independent stages (RUN sleep) built by etage and BuildKit: parallelism; "
        "plus skipping of an unused stage.",
    )
    parser.add_argument("--stages", type=int, default=4, help="independent stages (default 4)")
    parser.add_argument("--sleep", type=float, default=2, help="seconds each stage sleeps")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median; default 3)")
    parser.add_argument("--tools", default="etage,buildkit", help="etage,buildkit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root")
    bl.terminate_on_sigterm()
    tools = [t for t in args.tools.split(",") if t]
    cpus = os.cpu_count() or 1
    n, s = args.stages, args.sleep
    times: dict[tuple[str, str], list[float]] = {}
    ran: dict[tuple[str, str], list[bool]] = {}
    failures: list[str] = []
    print(f"# bench_stages: {bl.machine()}", flush=True)
    with bl.workdir(args.keep, "etage-bench-stages-") as work:
        layout, archive = make_base(work)
        logs = work / "logs"
        ctx = work / "ctx"
        ctx.mkdir()
        files = {
            "parallel": parallel_dockerfile(n, s),
            "skip-target": skip_dockerfile(last_is_final=False),
            "skip-last": skip_dockerfile(last_is_final=True),
        }
        for name, text in files.items():
            (ctx / f"Dockerfile.{name}").write_text(text)
        root = work / "etage-root"
        etage = [*bl.etage_argv(), "--root", str(root)]
        if "etage" in tools:
            bl.run([*etage, "load", "-i", str(layout)]).check()
        dockerd = None
        try:
            if "buildkit" in tools:
                dockerd = bl.Dockerd().start()
                dockerd.load(archive)
            # (label, tool, Dockerfile, extra args)
            cases: list[tuple[str, str, str, list[str]]] = []
            if "etage" in tools:
                cases += [
                    (f"{n} stages, etage --jobs default", "etage", "parallel", []),
                    (f"{n} stages, etage --jobs 1", "etage", "parallel", ["--jobs", "1"]),
                    (f"{n} stages, etage --jobs {n}", "etage", "parallel", ["--jobs", str(n)]),
                    ("unused stage, --target final", "etage", "skip-target", ["--target", "final"]),
                    ("unused stage, no --target", "etage", "skip-last", []),
                ]  # fmt: skip
            if dockerd is not None:
                cases += [
                    (f"{n} stages, BuildKit", "buildkit", "parallel", []),
                    ("unused stage, --target final", "buildkit", "skip-target",
                     ["--target", "final"]),
                    ("unused stage, no --target", "buildkit", "skip-last", []),
                ]  # fmt: skip
            for rep in range(args.reps):
                for label, tool, df, extra in cases:
                    nonce = uuid.uuid4().hex
                    common = ["-f", str(ctx / f"Dockerfile.{df}"), "--build-arg", f"NONCE={nonce}"]
                    logfile = logs / f"{tool}-{df}-{rep + 1}.log"
                    if tool == "etage":
                        r = bl.run([*etage, "build", "--progress", "plain", *common, *extra,
                                    str(ctx)], log_path=logfile)  # fmt: skip
                    else:
                        assert dockerd is not None
                        r = dockerd.docker("build", "--network", "host", "--progress", "plain",
                                           *common, *extra, str(ctx), check=False,
                                           log_path=logfile)  # fmt: skip
                    if r.returncode != 0:
                        failures.append(f"{label} ({tool}): exit {r.returncode}\n{r.output[-800:]}")
                        continue
                    times.setdefault((label, tool), []).append(r.seconds)
                    ran.setdefault((label, tool), []).append(
                        f"UNUSED_STAGE_RAN {nonce}" in r.output
                    )
                    bl.log(f"[rep {rep + 1}] {label} ({tool}): {r.seconds:.2f} s")
        finally:
            if dockerd is not None:
                dockerd.stop()
        if args.keep:
            bl.log(f"logs: {logs}")
    table = bl.Table(
        "case", "tool", "wall s (median)", "range", "sleeps in a row", "etage/BuildKit", "note"
    )
    order = sorted(times, key=lambda k: (k[0].startswith("unused"), k[0], k[1] != "buildkit"))
    for label, tool in order:
        values = times[(label, tool)]
        med = bl.median(values)
        parallel = "stages" in label
        bk_label = f"{n} stages, BuildKit" if parallel else label
        bk = bl.median(times.get((bk_label, "buildkit"), []))
        rel = f"{bl.ratio(med, bk):.2f}x" if tool == "etage" and not math.isnan(bk) else ""
        if parallel:
            note = ""
        else:
            note = "unused stage RAN" if any(ran[(label, tool)]) else "unused stage skipped"
        rounds = str(rounds_of(med, s)) if parallel else ""
        table.add(label, tool, med, bl.spread(values), rounds, rel, note)
    print(f"Stages: median of {args.reps}; {n} independent stages, each RUN sleep {s:g} s")
    print(table.render())
    print(
        f"'sleeps in a row' = wall // {s:g} s: 1 = all {n} stages overlapped (a sleep needs no "
        f"CPU), {math.ceil(n / cpus)} = {cpus} at a time (one per CPU), {n} = sequential."
    )
    etage_default = times.get((f"{n} stages, etage --jobs default", "etage"), [])
    bk_values = times.get((f"{n} stages, BuildKit", "buildkit"), [])
    if etage_default and bk_values:
        e, b = rounds_of(bl.median(etage_default), s), rounds_of(bl.median(bk_values), s)
        print(
            f"Target: independent stages as parallel as BuildKit (etage's default --jobs): "
            f"{e} vs {b} sleeps in a row -> {'yes' if e <= b else 'NO'}"
        )
    if failures:
        print("FAILURES:\n" + "\n".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    bl.main_guard(main, "bench_stages")
