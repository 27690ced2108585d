"""Build speed and image size: etage vs BuildKit (and buildah) on examples/node-ts-api.

The Node 18 + TypeScript API is built from its two Dockerfiles, `Dockerfile.naive`
(one stage) and `Dockerfile` (multi-stage: builder, prod-deps, runtime), by:

* etage:    `etage --root R build --progress plain -f DF -t TAG CTX` (a fresh store R
            per repetition, holding only the bases, already unpacked: see below);
* BuildKit: the one embedded in Debian's dockerd 20.10, started privately by this script,
            `DOCKER_BUILDKIT=1 /usr/bin/docker build --network host --progress plain`;
* buildah:  if installed, `buildah --root R bud --isolation chroot --pull=never --layers
            --network host` (its own storage root; cache mounts under its own TMPDIR).

Bases (debian, node:18, node:18-slim) come from bench/make_bases.py: etage gets them
with `etage load` of the OCI layouts, dockerd with `docker load` of docker-archives
written by etage, buildah with `buildah pull oci:LAYOUT` + tag. They are named node:18
and node:18-slim as the Dockerfiles expect. The `# syntax=docker/dockerfile:1` line is
removed from the copies all tools build (dockerd could not pull that frontend image).

For each repetition, Dockerfile and tool, on a fresh copy of the app:

1. cold: etage: a new store with the bases loaded, their layers unpacked by a priming
   build (timed separately: "etage base unpack"), then the build. BuildKit:
   `docker builder prune -af` and `docker rmi` of the bench images (bases stay loaded
   and unpacked by `docker load`). buildah: `rm -a`, `rmi` of all but the bases, cache
   mounts wiped. Cache mounts (`RUN --mount=type=cache`) are therefore empty too;
2. no-op rebuild;
3. rebuild after a one-line edit of src/app.ts (`status: "ok"` -> `status: "ok-<nonce>"`).

Builder overhead: a copy of each Dockerfile whose RUNs print their own duration
(`RUN start=$(date +%s%N) && CMD && echo "RUNTIME <stage> <ms>"`) is built cold;
overhead = wall - the longest stage's summed RUN time (for a one-stage build, wall - its
RUN time), as research/peer-bench.md computed it for BuildKit, a parallel builder.

Image sizes (once, from a pristine build): each image is written as a docker-archive
(`etage save --format docker`, `docker save`, `buildah push docker-archive:`); the sizes
of the uncompressed layer tars are summed, and each layer is gzipped with the same
compressor (zlib-ng level 6) so the compressed sizes compare like for like; etage's own
stored gzip blob sizes (what a push sends) are also shown.

Prints the tables with medians of --reps repetitions, ratios etage/BuildKit and the
targets (no-op <= 1.0x, one-line edit <= 0.9x, builder overhead <= 0.5x BuildKit's).
Build logs are kept under $ETAGE_BENCH_DIR/results/<time>/.

    python bench/bench_build.py [--reps 3] [--tools etage,buildkit,buildah]
                                [--files naive,multi] [--no-overhead] [--no-sizes]

Network: the builds download npm packages (npm registry); nothing else leaves 127.0.0.1.
Runs as root (dockerd, runc, mounts); everything it starts is stopped on exit or Ctrl-C.
"""

from __future__ import annotations

import abc
import argparse
import json
import math
import os
import re
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib as bl

bl.reexec_in_venv()

import make_bases  # noqa: E402

APP = bl.ROOT / "examples" / "node-ts-api"
FILES = {"naive": "Dockerfile.naive", "multi": "Dockerfile"}
BASES = ("node:18", "node:18-slim")
EDIT_FROM = 'status: "ok"'
RUNTIME_RE = re.compile(r"RUNTIME (\S+) (\d+)\b")


# ---- the workload ------------------------------------------------------------------------------


def strip_syntax(text: str) -> str:
    return (
        "\n".join(line for line in text.splitlines() if not line.lower().startswith("# syntax="))
        + "\n"
    )


def instrument(text: str) -> str:
    """Wrap every RUN (shell form, one line) so that it prints its own duration."""
    out, stage, n = [], "main", 0
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM":
            n += 1
            lowered = [w.lower() for w in words]
            stage = words[lowered.index("as") + 1] if "as" in lowered else f"stage{n}"
        if words and words[0].upper() == "RUN":
            flags = []
            rest = words[1:]
            while rest and rest[0].startswith("--"):
                flags.append(rest.pop(0))
            cmd = line.split(None, 1 + len(flags))[-1]
            out.append(
                " ".join(
                    [
                        "RUN",
                        *flags,
                        f"start=$(date +%s%N) && {cmd} && "
                        f'echo "RUNTIME {stage} $(( ($(date +%s%N) - start) / 1000000 ))"',
                    ]
                )
            )
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def fresh_app(dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(APP, dest, ignore=shutil.ignore_patterns("node_modules", "dist"))
    for kind, name in FILES.items():
        text = strip_syntax((APP / name).read_text())
        (dest / name).write_text(text)
        (dest / f"{name}.instrumented").write_text(instrument(text))
        del kind
    return dest


def edit_app(app: Path) -> None:
    src = app / "src" / "app.ts"
    text = src.read_text()
    if EDIT_FROM not in text:
        raise SystemExit(f"{src}: no {EDIT_FROM!r} to edit")
    src.write_text(text.replace(EDIT_FROM, f'status: "ok-{uuid.uuid4().hex[:8]}"', 1))


# ---- the tools ---------------------------------------------------------------------------------


class Tool(abc.ABC):
    """One builder under test (etage, BuildKit, buildah)."""

    name = ""

    def __init__(self, work: Path, logs: Path, layouts: dict[str, Path]) -> None:
        self.work = work / self.name
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = logs
        self.layouts = layouts
        self.extra: dict[str, list[float]] = {}

    def setup(self) -> None:  # noqa: B027 - an optional hook
        """Start what the tool needs (a daemon), once."""

    def reset(self) -> None:  # noqa: B027 - an optional hook
        """Forget every build: the next one is cold (bases stay)."""

    @abc.abstractmethod
    def build(self, ctx: Path, dockerfile: str, tag: str, label: str) -> bl.Result: ...

    @abc.abstractmethod
    def docker_archive(self, tag: str, dest: Path) -> None: ...

    def native_compressed(self, ctx: Path, dockerfile: str, tag: str) -> int | None:
        """The tool's own compressed layer bytes (what a push sends), if it can tell."""
        return None

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Stop what setup() started."""


class Etage(Tool):
    name = "etage"

    def __init__(self, *a: object, jobs: int = 0) -> None:
        super().__init__(*a)  # type: ignore[arg-type]
        self.root = self.work / "root"
        self.jobs = jobs
        self.n = 0

    def cli(self, *args: str, label: str = "etage", **kw: object) -> bl.Result:
        return bl.run(
            [*bl.etage_argv(), "--root", str(self.root), *args],
            env=bl.etage_env(),
            log_path=self.logs / f"{label}.log",
            **kw,  # type: ignore[arg-type]
        )

    def reset(self) -> None:
        bl.unmount_below(self.work)
        shutil.rmtree(self.root, ignore_errors=True)
        t0 = time.perf_counter()
        for name in BASES:
            self.cli("load", "-i", str(self.layouts[name]), label="etage-setup").check()
        self.extra.setdefault("base load (etage load)", []).append(time.perf_counter() - t0)
        # Unpack the bases' layers into snapshots, as `docker load` does for dockerd.
        prime = self.work / "prime"
        prime.mkdir(exist_ok=True)
        self.n += 1
        (prime / "Dockerfile").write_text(
            f"FROM node:18 AS a\nRUN echo {self.n} {uuid.uuid4()}\n"
            f"FROM node:18-slim\nRUN echo {self.n} {uuid.uuid4()}\n"
            "COPY --from=a /etc/hostname /prime\n"
        )
        r = self.cli("build", "--progress", "plain", str(prime), label="etage-setup").check()
        self.extra.setdefault("base unpack (priming build)", []).append(r.seconds)

    def build(self, ctx: Path, dockerfile: str, tag: str, label: str) -> bl.Result:
        args = ["build", "--progress", "plain", "-f", str(ctx / dockerfile), "-t", tag]
        if self.jobs:
            args += ["--jobs", str(self.jobs)]
        return self.cli(*args, str(ctx), label=label)

    def docker_archive(self, tag: str, dest: Path) -> None:
        self.cli("save", "--format", "docker", "-o", str(dest), tag, label="etage-setup").check()

    def native_compressed(self, ctx: Path, dockerfile: str, tag: str) -> int | None:
        # The store keeps new layers uncompressed; `-o type=oci` gzips them (a cache-hit
        # rebuild): the sizes of those blobs are what a push sends.
        dest = self.work / "sizes.oci.tar"
        args = ["build", "--progress", "plain", "-f", str(ctx / dockerfile), "-t", tag]
        self.cli(*args, "-o", f"type=oci,dest={dest}", str(ctx), label="etage-setup").check()
        try:
            with tarfile.open(dest) as tar:

                def blob(name: str) -> Any:
                    member = tar.extractfile(name)
                    assert member is not None
                    return json.load(member)

                digest = blob("index.json")["manifests"][0]["digest"]
                manifest = blob("blobs/" + digest.replace(":", "/"))
                return int(sum(layer["size"] for layer in manifest["layers"]))
        finally:
            dest.unlink(missing_ok=True)


class BuildKit(Tool):
    name = "buildkit"

    def setup(self) -> None:
        self.dockerd = bl.Dockerd().start()
        for name in BASES:
            t0 = time.perf_counter()
            self.dockerd.load(make_bases.docker_archive(name))
            self.extra.setdefault(f"docker load {name}", []).append(time.perf_counter() - t0)

    def reset(self) -> None:
        d = self.dockerd
        d.docker("builder", "prune", "-af", log_path=self.logs / "buildkit-setup.log")
        images = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").output.split()
        ours = [i for i in images if i.startswith("bench/")]
        if ours:
            d.docker("rmi", "-f", *ours, log_path=self.logs / "buildkit-setup.log")
        dangling = d.docker("images", "-q", "-f", "dangling=true").output.split()
        if dangling:
            d.docker("rmi", "-f", *dangling, check=False)

    def build(self, ctx: Path, dockerfile: str, tag: str, label: str) -> bl.Result:
        return self.dockerd.docker(
            "build", "--network", "host", "--progress", "plain",
            "-f", str(ctx / dockerfile), "-t", tag, str(ctx),
            check=False, log_path=self.logs / f"{label}.log",
        )  # fmt: skip

    def docker_archive(self, tag: str, dest: Path) -> None:
        self.dockerd.docker("save", "-o", str(dest), tag)

    def docker_size(self, tag: str) -> int:
        return int(self.dockerd.docker("image", "inspect", "-f", "{{.Size}}", tag).output)

    def close(self) -> None:
        if hasattr(self, "dockerd"):
            self.dockerd.stop()


class Buildah(Tool):
    name = "buildah"

    def setup(self) -> None:
        self.root = self.work / "root"
        self.runroot = Path(f"/run/etage-bench-buildah-{os.getpid()}")
        self.tmp = self.work / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.env = {**os.environ, "TMPDIR": str(self.tmp)}
        for name in BASES:
            r = self.cli("pull", "-q", f"oci:{self.layouts[name]}").check()
            image_id = r.output.split()[-1]
            self.cli("tag", image_id, f"docker.io/library/{name}").check()
            self.cli("rmi", f"localhost{self.layouts[name]}:latest")
        self.bases = set(self.cli("images", "-q", "--no-trunc").check().output.split())

    def cli(self, *args: str, label: str = "buildah-setup") -> bl.Result:
        return bl.run(
            ["buildah", "--root", str(self.root), "--runroot", str(self.runroot), *args],
            env=self.env, log_path=self.logs / f"{label}.log",
        )  # fmt: skip

    def reset(self) -> None:
        self.cli("rm", "-a")
        ids = set(self.cli("images", "-a", "-q", "--no-trunc").output.split()) - self.bases
        if ids:
            self.cli("rmi", "-f", *ids)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()

    def build(self, ctx: Path, dockerfile: str, tag: str, label: str) -> bl.Result:
        return self.cli(
            "bud", "--isolation", "chroot", "--pull=never", "--layers", "--network", "host",
            "-f", str(ctx / dockerfile), "-t", tag, str(ctx), label=label,
        )  # fmt: skip

    def docker_archive(self, tag: str, dest: Path) -> None:
        self.cli("push", tag, f"docker-archive:{dest}:{tag}").check()

    def close(self) -> None:
        if hasattr(self, "root"):
            self.cli("rm", "-a")
            bl.unmount_below(self.root)
            bl.unmount_below(self.runroot)
            shutil.rmtree(self.runroot, ignore_errors=True)


# ---- sizes -------------------------------------------------------------------------------------

_GZ_CACHE: dict[str, int] = {}


def archive_sizes(path: Path) -> dict[str, int]:
    """Layers, uncompressed layer bytes and gzip-6 bytes of a docker-archive's one image."""
    import gzip
    import hashlib

    from zlib_ng import zlib_ng

    out = {"layers": 0, "uncompressed": 0, "gzip6": 0, "app_uncompressed": 0, "app_gzip6": 0}
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layers = manifest[0]["Layers"]
        for i, name in enumerate(layers):
            member = tar.getmember(name)
            f = tar.extractfile(member)
            assert f is not None
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":  # some tools save compressed layers: measure the tar
                f = gzip.GzipFile(fileobj=f)  # type: ignore[assignment]
            h, size = hashlib.sha256(), 0
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
            key = h.hexdigest()
            if key not in _GZ_CACHE:  # the base layers are the same bytes in every image
                f.seek(0)
                comp, gz = zlib_ng.compressobj(6, zlib_ng.DEFLATED, 31), 0
                while chunk := f.read(1 << 20):
                    gz += len(comp.compress(chunk))
                _GZ_CACHE[key] = gz + len(comp.flush())
            gz = _GZ_CACHE[key]
            out["layers"] += 1
            out["uncompressed"] += size
            out["gzip6"] += gz
            if i > 0:
                out["app_uncompressed"] += size
                out["app_gzip6"] += gz
    return out


# ---- the measurements --------------------------------------------------------------------------


@dataclass
class Numbers:
    times: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    reps: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, tool: str, kind: str, what: str, value: float, rep: int) -> None:
        self.times.setdefault((tool, kind, what), []).append(value)
        self.reps.setdefault((tool, kind, what), []).append(rep)

    def get(self, tool: str, kind: str, what: str) -> list[float]:
        return self.times.get((tool, kind, what), [])

    def paired_ratios(self, a: str, b: str, kind: str, what: str) -> list[float]:
        """a/b within each repetition (measured minutes apart, so under similar load)."""
        by_rep = dict(zip(self.reps.get((b, kind, what), []), self.get(b, kind, what), strict=True))
        return [
            bl.ratio(value, by_rep[rep])
            for rep, value in zip(self.reps.get((a, kind, what), []), self.get(a, kind, what),
                                  strict=True)
            if rep in by_rep
        ]  # fmt: skip


def measure_builds(
    tools: list[Tool], files: list[str], reps: int, work: Path, nums: Numbers
) -> None:
    for rep in range(reps):
        for kind in files:
            for tool in tools:
                label = f"{tool.name}-{kind}-rep{rep + 1}"
                bl.log(f"[rep {rep + 1}/{reps}] {tool.name} {kind}: cold, no-op, edit")
                app = fresh_app(work / "apps" / label)
                tool.reset()
                tag = f"bench/{kind}:latest"
                for step in ("cold", "no-op", "edit"):
                    if step == "edit":
                        edit_app(app)
                    r = tool.build(app, FILES[kind], tag, f"{label}-{step}")
                    if r.returncode != 0:
                        nums.failures.append(f"{label} {step}: exit {r.returncode}, see {r.log}")
                        bl.log(f"  {step}: FAILED (exit {r.returncode}), log {r.log}")
                        break
                    nums.add(tool.name, kind, step, r.seconds, rep)
                    bl.log(f"  {step}: {r.seconds:.2f} s")
                shutil.rmtree(app, ignore_errors=True)


def measure_overhead(
    tools: list[Tool], files: list[str], reps: int, work: Path, nums: Numbers
) -> None:
    for rep in range(reps):
        for kind in files:
            for tool in tools:
                label = f"{tool.name}-{kind}-instrumented-rep{rep + 1}"
                bl.log(f"[rep {rep + 1}/{reps}] {tool.name} {kind}: instrumented cold build")
                app = fresh_app(work / "apps" / label)
                tool.reset()
                r = tool.build(app, FILES[kind] + ".instrumented", f"bench/{kind}-instr", label)
                shutil.rmtree(app, ignore_errors=True)
                if r.returncode != 0:
                    nums.failures.append(f"{label}: exit {r.returncode}, see {r.log}")
                    continue
                per_stage: dict[str, float] = {}
                for stage, ms in RUNTIME_RE.findall(r.output):
                    per_stage[stage] = per_stage.get(stage, 0.0) + int(ms) / 1000
                total = sum(per_stage.values())
                longest = max(per_stage.values(), default=0.0)
                nums.add(tool.name, kind, "instr wall", r.seconds, rep)
                nums.add(tool.name, kind, "instr sum RUN", total, rep)
                nums.add(tool.name, kind, "instr longest stage RUN", longest, rep)
                nums.add(tool.name, kind, "overhead", r.seconds - longest, rep)
                bl.log(
                    f"  wall {r.seconds:.2f} s, RUN by stage "
                    + ", ".join(f"{k} {v:.2f}" for k, v in per_stage.items())
                )


def measure_sizes(tools: list[Tool], files: list[str], work: Path) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for kind in files:
        for tool in tools:
            label = f"{tool.name}-{kind}-sizes"
            app = fresh_app(work / "apps" / label)
            tool.reset()
            tag = f"bench/{kind}-size:latest"
            r = tool.build(app, FILES[kind], tag, label)
            if r.returncode != 0:
                bl.log(f"{label}: build failed, see {r.log}")
                shutil.rmtree(app, ignore_errors=True)
                continue
            archive = work / f"{label}.tar"
            try:
                tool.docker_archive(tag, archive)
                s = archive_sizes(archive)
            except (bl.CommandFailed, KeyError, tarfile.TarError) as exc:
                bl.log(f"{label}: cannot measure: {exc}")
                continue
            finally:
                archive.unlink(missing_ok=True)
            native = tool.native_compressed(app, FILES[kind], tag)
            shutil.rmtree(app, ignore_errors=True)
            if native is not None:
                s["native_compressed"] = native
            if isinstance(tool, BuildKit):
                s["docker_size"] = tool.docker_size(tag)
            sizes[f"{tool.name}/{kind}"] = s
            bl.log(f"{label}: {s}")
    return sizes


# ---- report ------------------------------------------------------------------------------------

TARGETS = {"no-op": 1.0, "edit": 0.9, "overhead": 0.5}


def report(
    tools: list[Tool], files: list[str], nums: Numbers, sizes: dict[str, dict[str, int]],
    reps: int,
) -> str:  # fmt: skip
    names = [t.name for t in tools]
    has_bk = "buildkit" in names
    out = []
    headers = ["Dockerfile", "measure (s)", *names]
    if has_bk and "etage" in names:
        headers += ["etage/BuildKit", "paired", "target", "met?"]
    table = bl.Table(*headers)
    measures = ["cold", "no-op", "edit", "instr wall", "instr sum RUN",
                "instr longest stage RUN", "overhead"]  # fmt: skip
    for kind in files:
        for what in measures:
            cells = []
            meds = {}
            for name in names:
                values = nums.get(name, kind, what)
                meds[name] = bl.median(values)
                cells.append(f"{meds[name]:.2f} {bl.spread(values)}".strip() if values else "n/a")
            if not any(nums.get(n, kind, what) for n in names):
                continue
            row = [kind, "1-line .ts edit" if what == "edit" else what, *cells]
            if len(headers) > len(names) + 2:
                r = bl.ratio(meds["etage"], meds["buildkit"])
                paired = nums.paired_ratios("etage", "buildkit", kind, what)
                p = bl.median(paired)
                target = TARGETS.get(what)
                row += [
                    f"{r:.2f}x" if not math.isnan(r) else "n/a",
                    f"{p:.2f}x {bl.spread(paired)}".strip() if paired else "n/a",
                    f"<= {target}x" if target else "",
                    ("yes" if p <= target else "NO") if target and paired else "",
                ]
            table.add(*row)
    out.append(
        f"Build times, median of {reps} (range); etage/BuildKit: ratio of the medians, and "
        "'paired': the median of the per-repetition ratios (each repetition builds with every "
        "tool back to back, so those share the machine's load); targets judged on 'paired':\n"
        + table.render()
    )

    extra = bl.Table("setup (not in the times above)", "tool", "median s")
    for tool in tools:
        for what, values in tool.extra.items():
            extra.add(what, tool.name, bl.median(values))
    if extra.rows:
        out.append(extra.render())

    if sizes:
        st = bl.Table(
            "image", "layers", "uncompressed", "gzip-6 (same compressor)", "app layers uncompr.",
            "app layers gzip-6", "etage's gzip blobs (-o type=oci)", "docker .Size",
        )  # fmt: skip
        for key, s in sizes.items():
            st.add(
                key, s["layers"], f"{s['uncompressed']:,}", f"{s['gzip6']:,}",
                f"{s['app_uncompressed']:,}", f"{s['app_gzip6']:,}",
                f"{s['native_compressed']:,}" if "native_compressed" in s else "",
                f"{s['docker_size']:,}" if "docker_size" in s else "",
            )  # fmt: skip
        for kind in files:
            e, b = sizes.get(f"etage/{kind}"), sizes.get(f"buildkit/{kind}")
            if e and b:
                st.add(
                    f"{kind}: etage/BuildKit", "",
                    f"{bl.ratio(e['uncompressed'], b['uncompressed']):.4f}x",
                    f"{bl.ratio(e['gzip6'], b['gzip6']):.4f}x",
                    f"{bl.ratio(e['app_uncompressed'], b['app_uncompressed']):.4f}x",
                    f"{bl.ratio(e['app_gzip6'], b['app_gzip6']):.4f}x", "", "",
                )  # fmt: skip
        e, b = sizes.get("etage/naive"), sizes.get("etage/multi")
        if e and b:
            st.add(
                "etage: naive/multi", "", f"{bl.ratio(e['uncompressed'], b['uncompressed']):.2f}x",
                f"{bl.ratio(e['gzip6'], b['gzip6']):.2f}x", "", "", "", "",
            )  # fmt: skip
        out.append("Final image sizes (bytes):\n" + st.render())
    if nums.failures:
        out.append("FAILURES:\n" + "\n".join("  " + f for f in nums.failures))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="etage vs BuildKit (and buildah) on examples/node-ts-api: cold, no-op and "
        "one-line-edit builds, builder overhead, image sizes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: no-op <= 1.0x BuildKit, one-line edit <= 0.9x, overhead <= 0.5x.",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median; default 3)")
    parser.add_argument(
        "--tools", default="etage,buildkit,buildah",
        help="comma-separated: etage,buildkit,buildah (buildah skipped if not installed)",
    )  # fmt: skip
    parser.add_argument("--files", default="naive,multi", help="naive,multi")
    parser.add_argument("--no-overhead", action="store_true", help="skip instrumented builds")
    parser.add_argument("--no-sizes", action="store_true", help="skip image sizes")
    parser.add_argument("--jobs", type=int, default=0, help="etage --jobs (default: its own)")
    parser.add_argument("--dir", help="bench cache dir (make_bases.py --dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root")
    bl.terminate_on_sigterm()
    wanted = [t for t in args.tools.split(",") if t]
    files = [f for f in args.files.split(",") if f]
    for f in files:
        if f not in FILES:
            parser.error(f"unknown Dockerfile {f!r}")
    if "buildah" in wanted and not bl.buildah_available():
        bl.log("buildah is not installed: skipped")
        wanted.remove("buildah")
    layouts = make_bases.ensure_bases(args.dir)
    results = make_bases.bench_dir(args.dir) / "results" / time.strftime("build-%Y%m%d-%H%M%S")
    results.mkdir(parents=True)
    print(f"# bench_build: {bl.machine()}; logs in {results}", flush=True)
    for name, version in bl.versions().items():
        print(f"#   {name}: {version}")
    nums = Numbers()
    sizes: dict[str, dict[str, int]] = {}
    tools: list[Tool] = []
    with bl.workdir(args.keep, "etage-bench-build-") as work:
        try:
            classes = {"etage": Etage, "buildkit": BuildKit, "buildah": Buildah}
            for name in wanted:
                if name == "etage":
                    tool: Tool = Etage(work, results, layouts, jobs=args.jobs)
                else:
                    tool = classes[name](work, results, layouts)
                tools.append(tool)
                tool.setup()
            t0 = time.monotonic()
            measure_builds(tools, files, args.reps, work, nums)
            if not args.no_overhead:
                measure_overhead(tools, files, args.reps, work, nums)
            if not args.no_sizes:
                sizes = measure_sizes(tools, files, work)
            bl.log(f"measured in {time.monotonic() - t0:.0f} s")
        finally:
            for tool in tools:
                tool.close()
    text = report(tools, files, nums, sizes, args.reps)
    print(text)
    (results / "summary.txt").write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "times": {"/".join(k): v for k, v in nums.times.items()},
                    "sizes": sizes,
                    "setup": {t.name: t.extra for t in tools},
                    "failures": nums.failures,
                },
                indent=2,
            )
        )
    return 1 if nums.failures else 0


if __name__ == "__main__":
    bl.main_guard(main, "bench_build")
