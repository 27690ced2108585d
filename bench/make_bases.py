"""Base images for the benchmarks and the demo, made locally (no Docker Hub here).

Three images, each a single-layer OCI image layout made from a root filesystem:

    debian:bookworm   debootstrap --variant=minbase bookworm (Cmd ["bash"])
      node:18           that + `apt-get install --no-install-recommends nodejs npm
                      ca-certificates` in a chroot, `apt-get clean` (apt lists kept), plus
                      the host's extra CAs (the TLS-re-signing proxy's) copied into
                      /usr/local/share/ca-certificates/ and merged by update-ca-certificates,
                      with NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt, so
                      `npm ci` works through the proxy (Cmd ["node"])
    node:18-slim      debian + `nodejs` only, apt lists and caches removed (Cmd ["node"])

Everything is cached under a directory (`--dir`, else $ETAGE_BENCH_DIR, else
/var/cache/etage-bench):

    rootfs/<slug>/          the root filesystems (debootstrap takes about a minute)
    store/                  an etage content store holding the three images
    oci/<slug>/             one OCI image layout per image (ref.name = the tag)
    docker/<slug>.tar       docker-archives for `docker load` (made on demand)

The script is idempotent: each product is written under a temporary name and renamed
when complete, and is skipped when present (`--force` redoes everything). The rootfs is
packed with etage's own library (etage.oci.commit: one deterministic gzip layer,
SOURCE_DATE_EPOCH=0) and exported with etage.transfer.save, so the benchmarks also
exercise etage's layer writer on a realistic tree.

Use from Python (the benchmarks and examples/node-ts-api do):

    from make_bases import ensure_bases, docker_archive
    layouts = ensure_bases()          # {"debian:bookworm": Path, "node:18": ..., ...}
    etage build --build-context node:18=oci-layout://{layouts["node:18"]} ...

From the shell:

    python bench/make_bases.py [--dir DIR] [--force] [--docker-archives]

Needs root, debootstrap (`make bench-build` installs it) and the Debian mirror.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

DEFAULT_DIR = Path("/var/cache/etage-bench")
SUITE = "bookworm"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# update-ca-certificates merges /usr/local/share/ca-certificates/*.crt into this bundle
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# name -> (slug, parent rootfs slug or None, apt packages, keep apt lists, config)
IMAGES: dict[str, dict[str, object]] = {
    "debian:bookworm": {
        "slug": "debian-bookworm",
        "parent": None,
        "packages": [],
        "keep_lists": True,
        "env": [PATH_ENV],
        "cmd": ["bash"],
    },
    "node:18": {
        "slug": "node-18",
        "parent": "debian:bookworm",
        "packages": ["nodejs", "npm", "ca-certificates"],
        "keep_lists": True,
        "extra_ca": True,
        "env": [PATH_ENV, f"NODE_EXTRA_CA_CERTS={SYSTEM_CA_BUNDLE}"],
        "cmd": ["node"],
    },
    "node:18-slim": {
        "slug": "node-18-slim",
        "parent": "debian:bookworm",
        "packages": ["nodejs"],
        "keep_lists": False,
        "env": [PATH_ENV],
        "cmd": ["node"],
    },
}


def log(msg: str) -> None:
    print(f"make_bases: {msg}", file=sys.stderr, flush=True)


def bench_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get("ETAGE_BENCH_DIR") or DEFAULT_DIR)


def debian_mirror() -> str:
    """The mirror apt uses on this host (deb822 sources first), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        for line in listing.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1]
    return "http://deb.debian.org/debian"


def host_extra_cas() -> list[Path]:
    """The host's locally added CAs (the TLS-re-signing proxy's among them)."""
    return sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))


def _run(argv: list[str], **kw: object) -> None:
    log("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kw)  # type: ignore[call-overload]


def _rmtree(path: Path) -> None:
    if path.exists() or path.is_symlink():
        _unmount_below(path)
        shutil.rmtree(path)


def _unmount_below(path: Path) -> None:
    """Unmount anything still mounted under `path` (left by a killed run), deepest first."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


@contextlib.contextmanager
def chroot_mounts(rootfs: Path) -> Iterator[None]:
    """/proc and /dev mounted in the chroot, and a resolv.conf; all undone on exit."""
    mounted: list[Path] = []
    resolv = rootfs / "etc" / "resolv.conf"
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    try:
        for target, argv in (
            (rootfs / "proc", ["mount", "-t", "proc", "proc"]),
            (rootfs / "dev", ["mount", "--bind", "/dev"]),
        ):
            target.mkdir(exist_ok=True)
            subprocess.run([*argv, str(target)], check=True)
            mounted.append(target)
        with contextlib.suppress(FileNotFoundError):
            resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)
        yield
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", "-l", str(target)], check=False)
        with contextlib.suppress(FileNotFoundError):
            resolv.unlink()
        if saved is not None:
            resolv.write_bytes(saved)


def _chroot(rootfs: Path, script: str) -> None:
    env = {
        "PATH": PATH_ENV.removeprefix("PATH="),
        "DEBIAN_FRONTEND": "noninteractive",
        "LANG": "C.UTF-8",
        "HOME": "/root",
    }
    _run(["chroot", str(rootfs), "/bin/sh", "-ec", script], env=env)


def make_rootfs(directory: Path, name: str, *, force: bool = False) -> tuple[Path, bool]:
    """The root filesystem of `name`, and whether it was (re)made by this call."""
    spec = IMAGES[name]
    final = directory / "rootfs" / str(spec["slug"])
    if final.is_dir() and (final / ".etage-bench-complete").exists() and not force:
        return final, False
    tmp = final.with_name(final.name + ".tmp")
    _rmtree(tmp)
    _rmtree(final)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    parent = spec["parent"]
    if parent is None:
        if shutil.which("debootstrap") is None:
            raise SystemExit(
                "make_bases: debootstrap is not installed (apt-get install debootstrap; "
                "make bench-build installs it)"
            )
        _run(["debootstrap", "--variant=minbase", SUITE, str(tmp), debian_mirror()])
        with chroot_mounts(tmp):
            _chroot(tmp, "apt-get clean")
    else:
        src, _ = make_rootfs(directory, str(parent), force=False)
        _run(["cp", "-a", "--reflink=auto", str(src), str(tmp)])
        (tmp / ".etage-bench-complete").unlink()
        packages = " ".join(spec["packages"])  # type: ignore[arg-type]
        script = (
            "apt-get update -qq\n"
            f"apt-get install -y -qq --no-install-recommends {packages} >/dev/null\n"
            "apt-get clean\n"
        )
        if spec.get("extra_ca"):
            cas = host_extra_cas()
            dest_dir = tmp / "usr/local/share/ca-certificates"
            dest_dir.mkdir(parents=True, exist_ok=True)
            for ca in cas:
                shutil.copyfile(ca, dest_dir / f"etage-bench-{ca.name}")
            if cas:
                script += "update-ca-certificates >/dev/null\n"
        if not spec["keep_lists"]:
            script += "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n"
        with chroot_mounts(tmp):
            _chroot(tmp, script)
    for junk in ("var/log/apt/eipp.log.xz", "var/cache/ldconfig/aux-cache"):
        with contextlib.suppress(FileNotFoundError):
            (tmp / junk).unlink()
    (tmp / ".etage-bench-complete").touch()
    tmp.rename(final)
    log(f"rootfs {name}: {time.monotonic() - started:.1f} s -> {final}")
    return final, True


def _full_name(name: str) -> str:
    from etage.reference import parse_reference

    return str(parse_reference(name))


def _pack(directory: Path, name: str, rootfs: Path) -> None:
    """Commit `rootfs` (minus the completion marker) as a one-layer image in the store."""
    from etage.oci.commit import commit_image, commit_layer
    from etage.oci.model import ImageConfig
    from etage.oci.store import ContentStore
    from etage.platforms import host

    spec = IMAGES[name]
    marker = rootfs / ".etage-bench-complete"
    marker.unlink()  # not part of the image; put back below
    store = ContentStore(directory / "store")
    try:
        started = time.monotonic()
        layer = commit_layer(store, rootfs, source_date_epoch=0)
        plat = host()
        config = ImageConfig(
            architecture=plat.architecture,
            os=plat.os,
            variant=plat.variant,
            created="1970-01-01T00:00:00Z",
            config={"Env": list(spec["env"]), "Cmd": list(spec["cmd"])},  # type: ignore[call-overload]
        )
        commit_image(
            store, [layer], config, name=_full_name(name), created_by=f"etage bench: {name}"
        )
        log(
            f"packed {name}: {layer.uncompressed_size / 1e6:.0f} MB -> "
            f"{layer.descriptor.size / 1e6:.0f} MB gzip in {time.monotonic() - started:.1f} s"
        )
    finally:
        store.close()
        marker.touch()


def _pack_stamp(directory: Path, name: str, rootfs: Path) -> tuple[Path, str]:
    """Where we note which rootfs an image was packed from (its marker's mtime)."""
    marker = rootfs / ".etage-bench-complete"
    stamp = directory / "store" / f"packed-{IMAGES[name]['slug']}"
    return stamp, str(marker.stat().st_mtime_ns)


def _store_has(directory: Path, name: str, rootfs: Path) -> bool:
    """Whether the store holds `name`, packed from this very rootfs."""
    from etage.oci.store import ContentStore

    stamp, want = _pack_stamp(directory, name, rootfs)
    if not stamp.is_file() or stamp.read_text() != want:
        return False
    store = ContentStore(directory / "store")
    try:
        ref = store.get_ref(_full_name(name))
        return ref is not None and store.has(ref.digest)
    finally:
        store.close()


def _export_layout(directory: Path, name: str, dest: Path) -> None:
    from etage.oci.store import ContentStore
    from etage.transfer import save

    tmp = dest.with_name(dest.name + ".tmp")
    _rmtree(tmp)
    store = ContentStore(directory / "store")
    try:
        with store.lease():
            save(store, [_full_name(name)], tmp, directory=True)
    finally:
        store.close()
    _rmtree(dest)
    tmp.rename(dest)


def ensure_bases(
    directory: str | os.PathLike[str] | None = None, *, force: bool = False
) -> dict[str, Path]:
    """Make (or find) the three bases; return {name: OCI layout directory}."""
    d = bench_dir(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, spec in IMAGES.items():
        layout = d / "oci" / str(spec["slug"])
        if (layout / "index.json").is_file() and not force:
            out[name] = layout
            continue
        rootfs, made = make_rootfs(d, name, force=force)
        if made or not _store_has(d, name, rootfs):
            _pack(d, name, rootfs)
            stamp, value = _pack_stamp(d, name, rootfs)
            stamp.write_text(value)
        layout.parent.mkdir(parents=True, exist_ok=True)
        _export_layout(d, name, layout)
        log(f"{name}: {layout}")
        out[name] = layout
    return out


def docker_archive(
    name: str, directory: str | os.PathLike[str] | None = None, *, tag: str | None = None
) -> Path:
    """A docker-archive tar of a base, for `docker load` (tagged `tag`, default `name`)."""
    from etage.oci.store import ContentStore
    from etage.transfer import save

    d = bench_dir(directory)
    ensure_bases(d)
    tag = tag or name
    dest = d / "docker" / (tag.replace("/", "_").replace(":", "_") + ".tar")
    layout = d / "oci" / str(IMAGES[name]["slug"])
    if dest.is_file() and dest.stat().st_mtime >= (layout / "index.json").stat().st_mtime:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    store = ContentStore(d / "store")
    try:
        ref = store.get_ref(_full_name(name))
        assert ref is not None, name
        if _full_name(tag) != ref.name:
            store.set_ref(_full_name(tag), ref.digest, ref.media_type, ref.size)
        tmp = dest.with_name(dest.name + ".tmp")
        with store.lease():
            save(store, [_full_name(tag)], tmp, fmt="docker")
        tmp.rename(dest)
    finally:
        store.close()
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Make the benchmark base images (debian:bookworm, node:18, node:18-slim) "
        "as OCI layouts, cached.",
    )
    parser.add_argument(
        "--dir",
        help=f"cache directory (default: $ETAGE_BENCH_DIR or {DEFAULT_DIR})",
    )
    parser.add_argument("--force", action="store_true", help="rebuild everything")
    parser.add_argument(
        "--docker-archives", action="store_true", help="also write docker-archive tars"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root (debootstrap, chroot, mounts)")
    started = time.monotonic()
    layouts = ensure_bases(args.dir, force=args.force)
    for name, path in layouts.items():
        line = f"{name:16} oci-layout://{path}"
        if args.docker_archives:
            line += f"  docker-archive {docker_archive(name, args.dir)}"
        print(line)
    log(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
