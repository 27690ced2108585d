"""A 2 GB layer: etage's build time and peak memory vs BuildKit's, in one run.

The Dockerfile (busybox base) has one RUN writing --size-mb (default 2048 MiB) into
--files (default 4) files under /data: all but the last are /dev/urandom bytes
(incompressible), the last is base64 text of random bytes (compresses to about 3/4),
so the layer is incompressible-ish, as media, models and packed artifacts are. A fresh
`--build-arg NONCE` makes every build cold. The RUN times itself from /proc/uptime
(busybox `date` has no %N; 10 ms resolution) and prints `RUNTIME <ms>`, so

    builder overhead = wall - the RUN's own time

is what the builder spends around the RUN: container start, diffing the snapshot and
committing the 2 GB layer (etage: an uncompressed tar into its store; BuildKit/dockerd:
the overlay snapshot applied into the docker image store).

Per repetition, interleaved:

* etage: a fresh store (`etage --root R`, busybox loaded), then
  `etage build --progress plain`, with the memory of the etage process tree sampled every
  50 ms from /proc. The container (everything below `runc`: the RUN's dd and base64) is
  the workload, not etage, so it is not counted; `runc` itself is. Printed: the etage
  process's exact peak (VmHWM) and the tree's sampled peak (etage + runc).
  Then `etage save` of the image to an OCI tar (gzips the 2 GB layer: the compression
  step of an output or a push) and `etage save --format docker` (uncompressed), both
  timed with their peak memory;
* BuildKit: dockerd 20.10 (private, started and stopped by this script),
  `builder prune -af` + `rmi` before each build, `DOCKER_BUILDKIT=1 docker build
  --network host`; the dockerd tree's RSS (dockerd + containerd + runc, the container
  excluded) sampled during the build for context; then `docker save` (uncompressed).

Target: etage's peak memory below 200 MB while committing the 2 GB layer.

    python bench/bench_big_layer.py [--reps 3] [--size-mb 2048] [--files 4]
                                    [--tools etage,buildkit] [--keep]

Needs root and about 4x --size-mb free under /var/tmp; only 127.0.0.1 is used.
Everything it starts (dockerd, mounts, scratch directories) is removed on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import benchlib as bl

bl.reexec_in_venv()

BASE = "bench-busybox:1"
TAG = "bench/big:latest"
RUNTIME_RE = re.compile(r"RUNTIME (\d+)\b")
TARGET_MB = 200
# The RUN's processes live below runc (etage) or below runc / containerd-shim (dockerd).
CONTAINER_PARENTS = ("runc", "containerd-shim")


def dockerfile(size_mb: int, files: int) -> str:
    each = size_mb // files
    cmds = ["mkdir /data"]
    for i in range(1, files):
        cmds.append(f"dd if=/dev/urandom of=/data/random{i} bs=1048576 count={each} 2>/dev/null")
    # base64 makes 4 bytes of 3: read 3/4 of the share to write it
    cmds.append(
        f"dd if=/dev/urandom bs=1048576 count={each * 3 // 4} 2>/dev/null | base64 > /data/text"
    )
    cmds.append("echo $NONCE > /data/nonce")
    body = " && \\\n    ".join(cmds)
    return (
        f"FROM {BASE}\n"
        "ARG NONCE\n"
        "RUN t0=$(cut -d' ' -f1 /proc/uptime) && \\\n"
        f"    {body} && \\\n"
        "    t1=$(cut -d' ' -f1 /proc/uptime) && \\\n"
        """    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "RUNTIME %d\\n", (b - a) * 1000 }'\n"""
    )


def make_base(work: Path) -> tuple[Path, Path]:
    """The busybox image as an OCI layout (for etage) and a docker-archive (for dockerd)."""
    from etage.oci.store import ContentStore
    from etage.reference import parse_reference
    from etage.testing import busybox_image
    from etage.transfer import save

    store = ContentStore(work / "seed")
    try:
        busybox_image(store, work, str(parse_reference(BASE)))
        archive = work / "busybox.docker.tar"
        layout = work / "busybox.oci"
        with store.lease():
            save(store, [BASE], archive, fmt="docker")
            save(store, [BASE], layout, directory=True)
    finally:
        store.close()
    return layout, archive


def mb(kb: float) -> float:
    return kb / 1024


def runtime_s(output: str) -> float:
    found = RUNTIME_RE.findall(output)
    return int(found[-1]) / 1000 if found else float("nan")


class Numbers:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], list[float]] = {}
        self.comms: dict[str, dict[str, int]] = {}

    def add(self, tool: str, what: str, value: float) -> None:
        self.values.setdefault((tool, what), []).append(value)

    def get(self, tool: str, what: str) -> list[float]:
        return self.values.get((tool, what), [])

    def med(self, tool: str, what: str) -> float:
        return bl.median(self.get(tool, what))

    def note_comms(self, label: str, sampler: bl.MemorySampler | None) -> None:
        if sampler is None:
            return
        seen = self.comms.setdefault(label, {})
        for comm, kb in sampler.peak_by_comm.items():
            seen[comm] = max(seen.get(comm, 0), kb)


@dataclass
class Setup:
    work: Path
    ctx: Path
    layout: Path  # busybox, OCI layout (etage)
    logs: Path
    nums: Numbers
    keep: bool


def etage_rep(rep: int, setup: Setup) -> None:
    work, ctx, layout, logs, nums = setup.work, setup.ctx, setup.layout, setup.logs, setup.nums
    root = work / "etage-root"
    bl.unmount_below(root)
    shutil.rmtree(root, ignore_errors=True)
    etage = [*bl.etage_argv(), "--root", str(root)]
    bl.run([*etage, "load", "-i", str(layout)], log_path=logs / "etage-setup.log").check()

    nonce = uuid.uuid4().hex
    r = bl.run(
        [*etage, "build", "--progress", "plain", "--build-arg", f"NONCE={nonce}",
         "-t", TAG, str(ctx)],
        log_path=logs / f"etage-build-{rep}.log", sample_memory=True,
        leaf_comms=CONTAINER_PARENTS,
    ).check()  # fmt: skip
    assert r.memory is not None
    run_s = runtime_s(r.output)
    nums.add("etage", "build wall", r.seconds)
    nums.add("etage", "RUN", run_s)
    nums.add("etage", "overhead", r.seconds - run_s)
    nums.add("etage", "build peak self", mb(r.memory.peak_self_kb))
    nums.add("etage", "build peak tree", mb(r.memory.peak_tree_kb))
    nums.note_comms("etage build", r.memory)
    bl.log(
        f"[rep {rep}] etage build: {r.seconds:.2f} s (RUN {run_s:.2f} s), peak etage "
        f"{mb(r.memory.peak_self_kb):.0f} MB, tree {mb(r.memory.peak_tree_kb):.0f} MB"
    )
    info = json.loads(
        bl.run([*etage, "inspect", "--format", "json", TAG], log_path=logs / "etage-setup.log")
        .check()
        .output
    )
    nums.add("etage", "layer bytes", float(info["layers"][-1]["size"]))

    # The outputs: a cache-hit rebuild with `-o type=oci` gzips the new layer (the store
    # keeps it uncompressed); `etage save` copies the stored blobs as they are.
    outputs = {
        "-o type=oci (gzip)": (
            ["build", "--progress", "plain", "--build-arg", f"NONCE={nonce}", "-o",
             f"type=oci,dest={work / 'big.oci.tar'}", str(ctx)],
            work / "big.oci.tar",
        ),
        "save --format oci": (
            ["save", "--format", "oci", "-o", str(work / "big.save.tar"), TAG],
            work / "big.save.tar",
        ),
        "save --format docker": (
            ["save", "--format", "docker", "-o", str(work / "big.docker.tar"), TAG],
            work / "big.docker.tar",
        ),
    }  # fmt: skip
    for what, (args, dest) in outputs.items():
        r = bl.run(
            [*etage, *args], log_path=logs / f"etage-output-{rep}.log", sample_memory=True
        ).check()
        assert r.memory is not None
        size = dest.stat().st_size
        dest.unlink()
        nums.add("etage", f"{what} wall", r.seconds)
        nums.add("etage", f"{what} cpu", r.cpu_seconds)
        nums.add("etage", f"{what} peak self", mb(r.memory.peak_self_kb))
        nums.add("etage", f"{what} peak tree", mb(r.memory.peak_tree_kb))
        nums.add("etage", f"{what} bytes", float(size))
        nums.note_comms(f"etage {what}", r.memory)
        bl.log(
            f"[rep {rep}] etage {what}: {r.seconds:.2f} s, {size / 1e6:,.0f} MB, "
            f"peak {mb(r.memory.peak_self_kb):.0f} MB"
        )
    if not setup.keep:
        bl.unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


def buildkit_rep(rep: int, setup: Setup, dockerd: bl.Dockerd) -> None:
    work, ctx, logs, nums = setup.work, setup.ctx, setup.logs, setup.nums
    setup_log = logs / "buildkit-setup.log"
    dockerd.docker("builder", "prune", "-af", log_path=setup_log)
    dockerd.docker("rmi", "-f", TAG, check=False, log_path=setup_log)
    assert dockerd.proc is not None
    sampler = bl.MemorySampler(dockerd.proc.pid, leaf_comms=CONTAINER_PARENTS)
    sampler.sample()
    idle_kb = sampler.peak_tree_kb
    sampler.peak_tree_kb = 0
    sampler.start()
    try:
        r = dockerd.docker(
            "build", "--network", "host", "--progress", "plain",
            "--build-arg", f"NONCE={uuid.uuid4().hex}", "-t", TAG, str(ctx),
            log_path=logs / f"buildkit-build-{rep}.log",
        )  # fmt: skip
    finally:
        sampler.stop()
    run_s = runtime_s(r.output)
    nums.add("buildkit", "build wall", r.seconds)
    nums.add("buildkit", "RUN", run_s)
    nums.add("buildkit", "overhead", r.seconds - run_s)
    nums.add("buildkit", "build peak tree", mb(sampler.peak_tree_kb))
    nums.add("buildkit", "idle tree", mb(idle_kb))
    nums.note_comms("dockerd build", sampler)
    bl.log(
        f"[rep {rep}] BuildKit build: {r.seconds:.2f} s (RUN {run_s:.2f} s), dockerd tree "
        f"{mb(idle_kb):.0f} -> {mb(sampler.peak_tree_kb):.0f} MB"
    )
    dest = work / "big.docker-save.tar"
    r = dockerd.docker("save", "-o", str(dest), TAG, log_path=setup_log)
    nums.add("buildkit", "save docker wall", r.seconds)
    nums.add("buildkit", "save docker bytes", float(dest.stat().st_size))
    dest.unlink()
    dockerd.docker("rmi", "-f", TAG, check=False, log_path=setup_log)
    dockerd.docker("builder", "prune", "-af", log_path=setup_log)


def cell(nums: Numbers, tool: str, what: str, fmt: str = "{:.2f}") -> str:
    values = nums.get(tool, what)
    if not values:
        return "n/a"
    text = fmt.format(bl.median(values))
    return f"{text} {bl.spread(values)}".strip() if fmt == "{:.2f}" else text


def report(nums: Numbers, reps: int, size_mb: int, tools: list[str]) -> str:
    out = []
    layer = nums.med("etage", "layer bytes")
    size = f"{size_mb} MiB" if math.isnan(layer) else f"{layer / 1e9:.2f} GB"
    t = bl.Table("build of one RUN writing a " + size + " layer", *tools, "etage/BuildKit")
    both = "etage" in tools and "buildkit" in tools

    def ratio(what: str) -> str:
        if not both:
            return ""
        r = bl.ratio(nums.med("etage", what), nums.med("buildkit", what))
        return "n/a" if math.isnan(r) else f"{r:.2f}x"

    for what, label in (
        ("build wall", "wall time (s)"),
        ("RUN", "the RUN's own time (s)"),
        ("overhead", "builder overhead = wall - RUN (s)"),
    ):
        t.add(label, *(cell(nums, tool, what) for tool in tools), ratio(what))
    mem = [
        ("build peak self", "peak RSS, etage process (VmHWM, MB)"),
        ("build peak tree", "peak RSS, builder tree w/o container (sampled, MB)"),
        ("idle tree", "RSS of the idle dockerd tree before the build (MB)"),
    ]
    for what, label in mem:
        t.add(label, *(cell(nums, tool, what, "{:.0f}") for tool in tools), "")
    out.append(f"Big layer, median of {reps} (range):\n" + t.render())

    if "etage" in tools:
        s = bl.Table("output of the image", "wall s", "CPU s", "MB/s", "output MB", "peak RSS MB")
        for what in ("-o type=oci (gzip)", "save --format oci", "save --format docker"):
            wall = nums.med("etage", f"{what} wall")
            s.add(
                f"etage build {what}, a cache hit" if what.startswith("-o") else f"etage {what}",
                cell(nums, "etage", f"{what} wall"),
                cell(nums, "etage", f"{what} cpu", "{:.1f}"),
                f"{bl.ratio(layer / 1e6, wall):.0f}",
                f"{nums.med('etage', f'{what} bytes') / 1e6:,.0f}",
                f"{nums.med('etage', f'{what} peak self'):.0f} (tree "
                f"{nums.med('etage', f'{what} peak tree'):.0f})",
            )
        if "buildkit" in tools:
            wall = nums.med("buildkit", "save docker wall")
            s.add(
                "docker save (BuildKit's image, for comparison)",
                cell(nums, "buildkit", "save docker wall"),
                "(daemon)",
                f"{bl.ratio(layer / 1e6, wall):.0f}",
                f"{nums.med('buildkit', 'save docker bytes') / 1e6:,.0f}",
                "(daemon)",
            )
        out.append(s.render())

        peak = max(nums.med("etage", "build peak self"), nums.med("etage", "build peak tree"))
        verdict = "yes" if peak < TARGET_MB else "NO"
        line = f"Target: etage peak memory while committing the layer < {TARGET_MB} MB: "
        line += f"{peak:.0f} MB -> {verdict}"
        if both:
            line += (
                f"; build time etage/BuildKit {ratio('build wall')}, "
                f"overhead etage/BuildKit {ratio('overhead')}"
            )
        out.append(line)
        top = sorted(nums.comms.get("etage build", {}).items(), key=lambda kv: -kv[1])[:5]
        out.append(
            "Peak VmHWM by process in the etage build tree (MB): "
            + ", ".join(f"{c} {mb(kb):.0f}" for c, kb in top)
        )
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A RUN writing a 2 GB layer: etage build time and peak memory vs BuildKit; "
        "etage save (gzip) time and memory.",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median; default 3)")
    parser.add_argument("--size-mb", type=int, default=2048, help="layer size, MiB (2048)")
    parser.add_argument("--files", type=int, default=4, help="files it is split into (4)")
    parser.add_argument("--tools", default="etage,buildkit", help="etage,buildkit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root")
    if args.files < 2:
        parser.error("--files must be at least 2")
    bl.terminate_on_sigterm()
    tools = [t for t in args.tools.split(",") if t]
    nums = Numbers()
    print(f"# bench_big_layer: {bl.machine()}", flush=True)
    for name, version in bl.versions().items():
        if name != "buildah":
            print(f"#   {name}: {version}")
    with bl.workdir(args.keep, "etage-bench-big-") as work:
        free = shutil.disk_usage(work).free
        if free < 4.5 * args.size_mb * 2**20:
            raise SystemExit(
                f"{work}: {free / 1e9:.1f} GB free, need ~{4.5 * args.size_mb / 1e3:.0f}"
            )
        layout, archive = make_base(work)
        logs = work / "logs"
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(dockerfile(args.size_mb, args.files))
        setup = Setup(work, ctx, layout, logs, nums, args.keep)
        dockerd = None
        try:
            if "buildkit" in tools:
                dockerd = bl.Dockerd().start()
                dockerd.load(archive)
            for rep in range(1, args.reps + 1):
                if "etage" in tools:
                    etage_rep(rep, setup)
                if dockerd is not None:
                    buildkit_rep(rep, setup, dockerd)
        finally:
            if dockerd is not None:
                dockerd.stop()
        if args.keep:
            bl.log(f"logs: {logs}")
    print(report(nums, args.reps, args.size_mb, tools))
    return 0


if __name__ == "__main__":
    bl.main_guard(main, "bench_big_layer")
