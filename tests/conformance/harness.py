"""The differential harness: build the same Dockerfile with etage and with BuildKit (the
one embedded in Debian's dockerd 20.10) and reduce each image to comparable data.

Both sides are read the same way, from the image's *layers* and its *config blob*:
- etage: the manifest, config and layer blobs of the built image, read straight from the
  store's blob files (none of etage's image-reading code runs on the result);
- BuildKit: `docker save TAG`, i.e. the layer tars and config blob dockerd keeps.

The layers are folded here (whiteouts, opaque directories, hardlinks) into one map
`path -> entry`; the same code reads both sides, so a difference is a difference in
what the builders wrote.

Normalisations (applied to both sides unless said otherwise), each with its reason:

N1  Times (mtime, atime, ctime) are ignored: BuildKit stamps files with the build's wall
    clock, etage may use SOURCE_DATE_EPOCH; neither is a property of the Dockerfile.
N2  The root directory entry ("./" or "/") is ignored: a layer may or may not carry one,
    and runtimes never apply its metadata when they unpack the layer.
N3  Owner and group *names* in tar headers (uname/gname) are ignored; numeric uid/gid are
    compared. Runtimes use the numbers; the names are informational.
N4  Symlink permission bits are ignored: Linux has no lchmod and never checks them.
N5  Directory sizes are ignored (a tar header gives 0 for directories; they do not matter).
N6  Extended attributes and PAX records other than the standard fields are ignored (no
    test here sets one).
N7  We read the layers from `docker save`, not `docker export` of a created container, so
    none of the files dockerd injects into a *container* appears: `/.dockerenv`,
    `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, the `/etc/mtab` symlink, and the
    `/proc`, `/sys`, `/dev` (`/dev/console`, `/dev/pts`, `/dev/shm`) mount-point stubs.
    Reading layers instead means no path has to be ignored: if etage ever wrote one of
    those into an image, the comparison would see it.
N8  Mount stubs (BuildKit side only, and only for the paths a `Build` lists in
    `bk_mount_stubs`): BuildKit before v0.11 (so the one in dockerd 20.10) leaves the
    empty directories it created as `RUN --mount` targets in the layer; current BuildKit
    removes them, with the parents it created (moby/buildkit#3307, #3314). The harness
    drops the listed paths from BuildKit's side after checking each is an empty
    directory, so the comparison is with current BuildKit.
N9  In the image config (the platform fields, architecture/os/variant, are compared
    with it), a field that is absent, null, "", [] or {} counts as absent:
    BuildKit writes the config from Go structs whose fields are all `omitempty`, so it
    can never write an empty value, and for every runtime an empty value means unset.
N10 History entries are compared by `created_by`, `comment` and `empty_layer` only
    (`created` is a time, N1).
N11 `ARG` history entries: BuildKit 20.10 records each ARG as written (`ARG N=1` when
    built with --build-arg N=2, `ARG X=${N}`, `ARG GLOBAL`); current BuildKit records
    the value the ARG took (`ARG N=2`, `ARG X=2`, `ARG GLOBAL=<the global's value>`:
    dispatchArg in dockerfile2llb/convert.go). assert_same_history compares the other
    fields of ARG entries, not their created_by; test_args.py checks the current rule.
N12 RUN on scratch (a deliberate difference of etage's): a RUN on a stage FROM scratch
    (with a static binary copied in) leaves, in BuildKit's layer, the empty mount-point
    directories its OCI runtime created in the empty rootfs (/dev, /proc, /sys, /etc for
    the hosts and resolv.conf bind mounts). etage does not put runtime mount points in
    the image. The harness drops the paths a `Build` lists in `bk_scratch_stubs` from
    BuildKit's side after checking each is an empty directory, as for N8.
N13 COPY/ADD history flags: current BuildKit writes `--parents`, `--chown=` and `--chmod=`
    in the history line, 20.10 none (see copy_flags_of_20_10).

Results are cached per scenario in a directory all pytest-xdist workers share (the
pattern pytest-xdist documents: a file lock plus a file under the common basetemp), so
each scenario is built once per test run, by whichever worker needs it first, even when
its tests are spread over several workers.

Besides the context, a build can have secrets (`--secret id=...,src=...` on both sides),
build args, labels and a platform (the command-line options of both builders), and files
served over HTTP on 127.0.0.1 (for `ADD <url>`; BuildKit fetches URLs from dockerd's
process, in the host's network namespace, so it reaches the same server).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.server
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from tests.docker_fixtures import DOCKER, Docker

Entry = dict[str, Any]
FS = dict[str, Entry]

OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."

CONFIG_KEYS = (
    "Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes",
    "StopSignal", "Healthcheck", "OnBuild", "Shell", "ArgsEscaped",
)  # fmt: skip

PLATFORM_KEYS = ("architecture", "os", "variant", "os.version", "os.features")


# ---- the build context ------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """A file of a build context (or of an archive), with its mode; a symlink to `link`
    (a hardlink to the member `link` when `hard`, archives only), or a directory."""

    data: bytes | str = b""
    mode: int = 0o644
    link: str | None = None
    dir: bool = False
    hard: bool = False


def tar_bytes(
    members: Mapping[str, bytes | str | F], *, compress: str = "", mode: int = 0o644
) -> bytes:
    """A tar archive (compress: "", "gz", "bz2" or "xz") of small members, for ADD
    tests. Members are owned by 1234:5678 (ADD keeps an archive's owners); parent
    directories are added (0755) before their first member."""
    if compress not in ("", "gz", "bz2", "xz"):
        raise ValueError(f"compress: {compress!r}")
    buf = io.BytesIO()
    tar_mode = f"w:{compress}"
    with tarfile.open(fileobj=buf, mode=tar_mode, format=tarfile.PAX_FORMAT) as t:  # type: ignore[call-overload]
        dirs: set[str] = set()
        for name, spec in members.items():
            f = spec if isinstance(spec, F) else F(spec, mode=mode)
            parts = name.rstrip("/").split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in dirs:
                    d = tarfile.TarInfo(parent + "/")
                    d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
                    t.addfile(d)
                    dirs.add(parent)
            raw = f.data.encode() if isinstance(f.data, str) else f.data
            info = tarfile.TarInfo(name)
            info.mode, info.mtime, info.uid, info.gid = f.mode, 1_600_000_000, 1234, 5678
            if f.dir:
                info.type = tarfile.DIRTYPE
                dirs.add(name.rstrip("/"))
            elif f.link is not None:
                info.type = tarfile.LNKTYPE if f.hard else tarfile.SYMTYPE
                info.linkname = f.link
            else:
                info.size = len(raw)
            t.addfile(info, io.BytesIO(raw) if info.isreg() else None)
    return buf.getvalue()


def write_context(root: Path, files: Mapping[str, bytes | str | F]) -> None:
    """Write files (hardlinks last: their targets exist by then)."""
    root.mkdir(parents=True, exist_ok=True)
    specs = {n: spec if isinstance(spec, F) else F(spec) for n, spec in files.items()}
    for name, f in sorted(specs.items(), key=lambda item: (item[1].hard, item[0])):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if f.dir:
            path.mkdir(exist_ok=True)
            os.chmod(path, f.mode)
        elif f.link is not None and f.hard:
            os.link(root / f.link, path)
        elif f.link is not None:
            path.symlink_to(f.link)
        else:
            path.write_bytes(f.data.encode() if isinstance(f.data, str) else f.data)
            os.chmod(path, f.mode)


# ---- what is built ---------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    dockerfile: str
    files: Mapping[str, bytes | str | F] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)  # id -> content
    tag: str | None = None  # both builders name the image so (default: per scenario)
    bk_mount_stubs: tuple[str, ...] = ()  # N8
    bk_scratch_stubs: tuple[str, ...] = ()  # N12
    build_contexts: tuple[str, ...] = ()  # etage only (BuildKit 20.10 has no named contexts)
    labels: Mapping[str, str] = field(default_factory=dict)  # --label
    platform: str | None = None  # --platform
    # files served over HTTP from 127.0.0.1 while this build runs (for ADD <url>): the
    # Dockerfile names them as {HTTP}/<path>; the harness puts the server's address there
    http: Mapping[str, bytes | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """Builds run in order on both sides, in one worker (later ones may use earlier
    ones: FROM a tagged image, a cache mount's content)."""

    name: str
    builds: tuple[Build, ...]

    @property
    def key(self) -> str:
        return self.name + "-" + hashlib.sha256(repr(self).encode()).hexdigest()[:12]


@dataclass
class Side:
    """One builder's result for one build."""

    builder: str
    error: str | None
    fs: FS = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    layers: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "builder": self.builder, "error": self.error, "fs": self.fs,
            "config": self.config, "history": self.history, "layers": self.layers,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Side:
        return cls(d["builder"], d["error"], d["fs"], d["config"], d["history"], d["layers"])

    def need(self) -> None:
        if self.error is not None:
            pytest.fail(f"the {self.builder} build failed:\n{self.error}")

    def text(self, path: str) -> str:
        """The content of a regular file of the image (kept for small files)."""
        self.need()
        entry = self.fs.get(path)
        if entry is None:
            pytest.fail(f"{self.builder}: {path} is not in the image")
        if entry["type"] != "file":
            pytest.fail(f"{self.builder}: {path} is a {entry['type']}, not a file")
        return str(entry.get("text", ""))


@dataclass
class Pair:
    etage: Side
    buildkit: Side


# ---- reading images --------------------------------------------------------------------


def _norm(name: str) -> str:
    p = posixpath.normpath("/" + name.lstrip("/"))
    return "" if p == "/" else p


def fold_layers(layers: list[Callable[[], IO[bytes]]]) -> FS:
    """Apply layer tars (plain or gzipped) in order: the resulting filesystem, as a map."""
    fs: FS = {}
    inode_of: dict[str, int] = {}
    next_inode = 0

    def drop(path: str, *, keep: set[str] | None = None, self_too: bool = True) -> None:
        prefix = path + "/"
        for p in [p for p in fs if p.startswith(prefix) or (self_too and p == path)]:
            if keep is None or p not in keep:
                del fs[p]
                inode_of.pop(p, None)

    for opener in layers:
        added: set[str] = set()
        with opener() as blob, tarfile.open(fileobj=blob, mode="r|*") as tf:
            for m in tf:
                path = _norm(m.name)
                if path == "":
                    continue  # N2
                parent, base = posixpath.split(path)
                if base == OPAQUE:
                    drop(parent if parent != "/" else "", keep=added, self_too=False)
                    continue
                if base.startswith(WHITEOUT):
                    drop(posixpath.join(parent, base[len(WHITEOUT) :]))
                    continue
                old = fs.get(path)
                if not (m.isdir() and old is not None and old["type"] == "dir"):
                    drop(path, self_too=False)  # a non-directory replaces a whole subtree
                entry: Entry
                if m.islnk():
                    target = _norm(m.linkname)
                    if target not in fs:
                        raise AssertionError(f"layer hardlink {path} -> missing {target}")
                    entry = {k: v for k, v in fs[target].items() if k != "links"}
                    inode_of[path] = inode_of[target]
                else:
                    entry = {"uid": m.uid, "gid": m.gid}  # N3
                    if m.isreg():
                        data = tf.extractfile(m).read()  # type: ignore[union-attr]
                        entry["type"] = "file"
                        entry["size"] = len(data)
                        entry["sha256"] = hashlib.sha256(data).hexdigest()[:16]
                        if len(data) <= 4096:
                            with contextlib.suppress(UnicodeDecodeError):
                                entry["text"] = data.decode()
                        inode_of[path] = next_inode
                        next_inode += 1
                    elif m.isdir():
                        entry["type"] = "dir"  # N5
                    elif m.issym():
                        entry["type"] = "symlink"
                        entry["target"] = m.linkname
                    elif m.ischr() or m.isblk():
                        entry["type"] = "char" if m.ischr() else "block"
                        entry["dev"] = f"{m.devmajor}:{m.devminor}"
                    elif m.isfifo():
                        entry["type"] = "fifo"
                    else:
                        entry["type"] = f"tar-type-{m.type!r}"
                    if not m.issym():
                        entry["mode"] = f"{m.mode & 0o7777:04o}"  # N4 for symlinks
                fs[path] = entry
                added.add(path)
    groups: dict[int, list[str]] = {}
    for p, ino in inode_of.items():
        if p in fs:
            groups.setdefault(ino, []).append(p)
    for paths in groups.values():
        if len(paths) > 1:
            for p in paths:
                fs[p]["links"] = sorted(paths)
    return fs


def normalise_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable part of an image config (N9, N10)."""
    cfg = raw.get("config") or {}
    out: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = cfg.get(key)
        if value in (None, "", [], {}, False) and key != "ArgsEscaped":
            continue
        if key == "ArgsEscaped" and not value:
            continue
        out[key] = value
    unknown = sorted(set(cfg) - set(CONFIG_KEYS) - {"Image", "Hostname", "Domainname",
                                                    "AttachStdin", "AttachStdout",
                                                    "AttachStderr", "Tty", "OpenStdin",
                                                    "StdinOnce"})  # fmt: skip
    for key in unknown:
        if cfg[key] not in (None, "", [], {}, False):
            out[key] = cfg[key]
    for key in PLATFORM_KEYS:  # the image's platform, outside `config`
        if raw.get(key) not in (None, "", []):
            out[key] = raw[key]
    return out


def normalise_history(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "created_by": h.get("created_by", ""),
            "comment": h.get("comment", ""),
            "empty_layer": bool(h.get("empty_layer", False)),
        }
        for h in raw.get("history") or []
    ]


def read_etage_image(store_root: Path, manifest_digest: str) -> tuple[dict[str, Any], FS, int]:
    def blob(digest: str) -> Path:
        alg, hexpart = digest.split(":", 1)
        return store_root / "blobs" / alg / hexpart

    manifest = json.loads(blob(manifest_digest).read_bytes())
    config = json.loads(blob(manifest["config"]["digest"]).read_bytes())

    def opener(path: Path) -> Callable[[], IO[bytes]]:
        return lambda: path.open("rb")

    openers = [opener(blob(layer["digest"])) for layer in manifest["layers"]]
    return config, fold_layers(openers), len(manifest["layers"])


def read_docker_save(archive: Path) -> tuple[dict[str, Any], FS, int]:
    with tarfile.open(archive) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = json.loads(t.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]

        def opener(name: str) -> Callable[[], IO[bytes]]:
            return lambda: t.extractfile(name)  # type: ignore[return-value]

        fs = fold_layers([opener(n) for n in manifest["Layers"]])
    return config, fs, len(manifest["Layers"])


def strip_mount_stubs(side: Side, stubs: tuple[str, ...]) -> None:
    """N8: drop BuildKit 20.10's leftover mount targets (deepest first): the empty
    directories (and empty files, for secrets) it created to mount on."""
    for path in sorted(stubs, key=lambda p: -p.count("/")):
        entry = side.fs.get(path)
        if entry is None:
            continue
        children = [p for p in side.fs if p.startswith(path + "/")]
        empty = (entry["type"] == "dir" and not children) or (
            entry["type"] == "file" and entry["size"] == 0
        )
        assert empty, (
            f"mount stub {path} is not an empty directory or file on the BuildKit side: {entry}, "
            f"{children[:5]}"
        )
        del side.fs[path]


# ---- running the builders --------------------------------------------------------------


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Conformance:
    """Runs scenarios on both builders; one per session (so one per xdist worker)."""

    BASES = ("localhost/busybox:1", "localhost/users:1")

    def __init__(self, workdir: Path, shared: Path, store_root: Path, bases: Path) -> None:
        self.workdir = workdir
        self.shared = shared  # results, shared by the xdist workers of this run
        self.store_root = store_root  # etage's store, with the base images
        self.bases_archive = bases  # the same bases as a docker archive, for `docker load`
        self._docker: Docker | None = None
        self._http: http.server.ThreadingHTTPServer | None = None
        self._memo: dict[str, list[Pair]] = {}

    def _docker_with_bases(self, get_docker: Callable[[], Docker]) -> Docker:
        if self._docker is None:
            docker = get_docker()
            if str(self.bases_archive) not in docker.loaded:
                docker.run("load", "-i", str(self.bases_archive), timeout=300)
                docker.loaded.add(str(self.bases_archive))
            self._docker = docker
        return self._docker

    def run(self, scenario: Scenario, get_docker: Callable[[], Docker]) -> list[Pair]:
        if scenario.key not in self._memo:
            cached = self.shared / f"{scenario.key}.json"
            with file_lock(self.shared / f"{scenario.key}.lock"):
                if not cached.exists():
                    data = self._run(scenario, self._docker_with_bases(get_docker))
                    tmp = cached.with_suffix(".tmp")
                    tmp.write_text(json.dumps(data))
                    tmp.replace(cached)
                data = json.loads(cached.read_text())
            self._memo[scenario.key] = [
                Pair(Side.from_json(p["etage"]), Side.from_json(p["buildkit"])) for p in data
            ]
        return self._memo[scenario.key]

    def http_base(self) -> str:
        """The address of this worker's HTTP server (started on first use), which serves
        the `http` files of the builds (ADD <url>), on 127.0.0.1 only."""
        if self._http is None:
            root = self.workdir / "http"
            root.mkdir(exist_ok=True)

            class Files(http.server.SimpleHTTPRequestHandler):
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    super().__init__(*args, directory=str(root), **kwargs)

                def log_message(self, format: str, *args: Any) -> None:
                    pass

            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._http = server
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def _prepare(self, base: Path, build: Build, name: str) -> tuple[Path, dict[str, Path]]:
        """Write the context (the Dockerfile with its {HTTP} address filled in), the
        secrets and the served files of one build: its context directory and secrets."""
        dockerfile = build.dockerfile
        if build.http:
            address = self.http_base()
            served = self.workdir / "http" / base.name / name
            shutil.rmtree(served, ignore_errors=True)
            write_context(served, build.http)
            dockerfile = dockerfile.replace("{HTTP}", f"{address}/{base.name}/{name}")
        ctx = base / f"ctx-{name}"
        write_context(ctx, {"Dockerfile": dockerfile, **build.files})
        secrets = {}
        for sid, content in build.secrets.items():
            p = base / f"secret-{name}-{sid}"
            p.write_text(content)
            secrets[sid] = p
        return ctx, secrets

    def _run(self, scenario: Scenario, docker: Docker) -> list[dict[str, Any]]:
        out = []
        base = self.workdir / scenario.key
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        for i, build in enumerate(scenario.builds):
            ctx, secrets = self._prepare(base, build, str(i))
            tag = build.tag or f"localhost/conformance-{scenario.name}-{i}:latest"
            started = time.monotonic()
            bk = self._buildkit(docker, ctx, build, tag, secrets, base / f"save{i}.tar")
            middle = time.monotonic()
            et = self._etage(ctx, build, tag, secrets)
            timing = {"buildkit": middle - started, "etage": time.monotonic() - middle}
            if bk.ok:
                strip_mount_stubs(bk, (*build.bk_mount_stubs, *build.bk_scratch_stubs))
            out.append({"etage": et.to_json(), "buildkit": bk.to_json(), "seconds": timing})
        shutil.rmtree(base, ignore_errors=True)
        return out

    def etage_only(self, build: Build, name: str) -> Side:
        """Build with etage alone (reference-spec tests: no differential partner)."""
        base = self.workdir / f"etage-only-{name}"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        ctx, secrets = self._prepare(base, build, "0")
        tag = build.tag or f"localhost/conformance-etage-only-{name}:latest"
        side = self._etage(ctx, build, tag, secrets)
        shutil.rmtree(base, ignore_errors=True)
        return side

    def _etage(self, ctx: Path, build: Build, tag: str, secrets: dict[str, Path]) -> Side:
        import etage

        try:
            result = etage.build(
                ctx,
                target=build.target,
                build_args=dict(build.build_args),
                tags=[tag],
                labels=dict(build.labels),
                platform=build.platform,
                secrets=[f"id={k},src={v}" for k, v in secrets.items()],
                build_contexts=list(build.build_contexts),
                root=self.store_root,
            )
        except Exception as exc:
            return Side("etage", f"{type(exc).__name__}: {exc}")
        config, fs, layers = read_etage_image(self.store_root, result.digest)
        return Side("etage", None, fs, normalise_config(config), normalise_history(config), layers)

    def _buildkit(  # noqa: PLR0917
        self,
        docker: Docker,
        ctx: Path,
        build: Build,
        tag: str,
        secrets: dict[str, Path],
        archive: Path,
    ) -> Side:
        args = [DOCKER, "build", "--network", "host", "--progress", "plain", "-t", tag]
        for k, v in build.build_args.items():
            args += ["--build-arg", f"{k}={v}"]
        if build.target:
            args += ["--target", build.target]
        for k, v in build.labels.items():
            args += ["--label", f"{k}={v}"]
        if build.platform:
            args += ["--platform", build.platform]
        for sid, p in secrets.items():
            args += ["--secret", f"id={sid},src={p}"]
        proc = subprocess.run(
            [*args, str(ctx)], env={**docker.env, "DOCKER_BUILDKIT": "1"},
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            return Side("buildkit", "\n".join(err.strip().splitlines()[-15:]))
        docker.run("save", "-o", str(archive), tag, timeout=300)
        config, fs, layers = read_docker_save(archive)
        archive.unlink()
        return Side(
            "buildkit", None, fs, normalise_config(config), normalise_history(config), layers
        )


# ---- comparing -------------------------------------------------------------------------


def _subtree(fs: FS, roots: tuple[str, ...]) -> FS:
    if not roots:
        return fs
    return {
        p: e
        for p, e in fs.items()
        if any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)
    }


def _show(entry: Entry | None) -> str:
    if entry is None:
        return "(absent)"
    return json.dumps({k: v for k, v in entry.items() if k != "text"}, sort_keys=True)


def fs_differences(etage_fs: FS, bk_fs: FS, *roots: str) -> dict[str, str]:
    """path -> a description of how the two sides differ there."""
    a, b = _subtree(etage_fs, roots), _subtree(bk_fs, roots)
    out = {}
    for path in sorted(set(a) | set(b)):
        ea, eb = a.get(path), b.get(path)
        if ea != eb:
            text = f"{path}\n    etage:    {_show(ea)}\n    buildkit: {_show(eb)}"
            if ea and eb and ea.get("text") != eb.get("text"):
                text += f"\n    etage text:    {ea.get('text')!r}\n    buildkit text: {eb.get('text')!r}"
            out[path] = text
    return out


def assert_same_fs(pair: Pair, *roots: str, exclude: tuple[str, ...] = ()) -> None:
    """The filesystems under `roots` (all of it without roots) are the same, but for the
    `exclude`d paths (each test that excludes a path checks it on its own)."""
    pair.buildkit.need()
    pair.etage.need()
    diff = [
        text
        for path, text in fs_differences(pair.etage.fs, pair.buildkit.fs, *roots).items()
        if path not in exclude
    ]
    if roots:
        assert _subtree(pair.buildkit.fs, roots), f"BuildKit has nothing under {roots}: bad test"
    if diff:
        pytest.fail(
            f"{len(diff)} difference(s) under {roots or '/'}:\n" + "\n".join(diff[:40]),
            pytrace=False,
        )


def assert_same_config(pair: Pair, *keys: str) -> None:
    pair.buildkit.need()
    pair.etage.need()
    a, b = pair.etage.config, pair.buildkit.config
    names = keys or tuple(sorted(set(a) | set(b)))
    diff = [f"{k}:\n    etage:    {a.get(k)!r}\n    buildkit: {b.get(k)!r}" for k in names if a.get(k) != b.get(k)]  # fmt: skip
    if diff:
        pytest.fail("config differs:\n" + "\n".join(diff), pytrace=False)


_COPY_FLAGS = re.compile(r"^((?:COPY|ADD)(?: --parents)?(?: --chown=\S+)?(?: --chmod=\S+)?) ")


def copy_flags_of_20_10(created_by: str) -> str:
    """N13: current BuildKit (c7ce41a, Jan 2024) writes --parents, --chown= and --chmod=
    in a COPY/ADD history line; 20.10 wrote none. etage's line is reduced to 20.10's
    form here; test_copy_history_names_chown_and_chmod checks the current one."""
    match = _COPY_FLAGS.match(created_by)
    if match is None:
        return created_by
    return created_by.split(" ", 1)[0] + " " + created_by[match.end() :]


def assert_same_history(pair: Pair, *, ignore: tuple[str, ...] = ()) -> None:
    """History entries the same (those whose BuildKit created_by starts with one of
    `ignore` are compared by their other fields: a test of their own checks them)."""
    pair.buildkit.need()
    pair.etage.need()
    ignore = (*ignore, "ARG ")  # N11
    a = [{**h, "created_by": copy_flags_of_20_10(h["created_by"])} for h in pair.etage.history]
    b = list(pair.buildkit.history)
    for i in range(min(len(a), len(b))):
        if ignore and b[i]["created_by"].startswith(ignore):
            a[i] = {**a[i], "created_by": b[i]["created_by"]}
    if a != b:
        lines = []
        for i in range(max(len(a), len(b))):
            ea = a[i] if i < len(a) else None
            eb = b[i] if i < len(b) else None
            mark = "  " if ea == eb else "!!"
            lines.append(f"{mark} {i}: etage={ea}\n      buildkit={eb}")
        pytest.fail("history differs:\n" + "\n".join(lines), pytrace=False)
    assert pair.etage.layers == pair.buildkit.layers
    non_empty = sum(1 for h in b if not h["empty_layer"])
    assert pair.buildkit.layers == non_empty


def assert_same_outcome(pair: Pair) -> None:
    """Both fail, or both succeed with the same filesystem and config."""
    if pair.buildkit.error is not None:
        assert pair.etage.error is not None, "etage built what BuildKit rejects"
        return
    assert_same_fs(pair)
    assert_same_config(pair)


def assert_etage_fs(pair: Pair, expected: FS, *roots: str) -> None:
    """etage's filesystem under `roots` is `expected` (current BuildKit's, worked out
    from BuildKit 20.10's where they differ: each caller says how and why)."""
    pair.etage.need()
    diff = fs_differences(pair.etage.fs, expected, *roots)
    if diff:
        pytest.fail(
            f"{len(diff)} difference(s) from current BuildKit under {roots}:\n"
            + "\n".join(diff.values()).replace("buildkit:", "expected:"),
            pytrace=False,
        )


def bk_subtree(pair: Pair, *roots: str) -> FS:
    """A copy of BuildKit's entries under `roots`, to adjust to current BuildKit."""
    pair.buildkit.need()
    return {p: dict(e) for p, e in _subtree(pair.buildkit.fs, roots).items()}


def assert_both_fail(pair: Pair) -> None:
    assert pair.buildkit.error is not None, "BuildKit accepted the build: bad test"
    assert pair.etage.error is not None, "etage built what BuildKit rejects"


def current_buildkit_id(text: str) -> str:
    """`id` output as current BuildKit's RUN gives it, from 20.10's: the primary group
    first in the supplementary groups (see tests/conformance/test_run.py)."""
    words = text.split()
    gid = next(w for w in words if w.startswith("gid="))[4:]
    groups = next((w[7:].split(",") for w in words if w.startswith("groups=")), [])
    if gid not in groups:
        groups.insert(0, gid)
    rest = [w for w in words if not w.startswith("groups=")]
    return " ".join([*rest, "groups=" + ",".join(groups)]) + "\n"


def assert_same_text(pair: Pair, path: str) -> None:
    a, b = pair.etage.text(path), pair.buildkit.text(path)
    if a != b:
        pytest.fail(f"{path} differs:\n  etage:    {a!r}\n  buildkit: {b!r}", pytrace=False)
