"""Pull speed and memory: etage vs skopeo, from a local registry, in the same run.

Builds a ~500 MB (compressed) image from real files under /usr with etage, pushes it to
a registry server started on 127.0.0.1 (Debian's docker-registry), then pulls it with
`skopeo copy docker://... oci:DIR` and with `etage pull` into an empty store, each in a
fresh process, several times. Prints seconds, the ratio etage/skopeo, and peak RSS.
Targets (issue 3): etage within 1.5x of skopeo's time; etage's peak RSS below 150 MB.

    python bench/bench_pull.py [--size-mb 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

CANDIDATES = [
    "/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/lib/python3", "/usr/libexec",
    "/usr/lib/jvm", "/usr/lib/gcc", "/usr/bin", "/usr/local/lib", "/usr/lib/node_modules",
]  # fmt: skip


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of a command run in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if status != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed: {err}")
    return elapsed, usage.ru_maxrss // 1024


def build_image(store_root: Path, target_bytes: int) -> str:
    from etage.oci.commit import commit_image, commit_layer
    from etage.oci.model import ImageConfig
    from etage.oci.store import ContentStore
    from etage.platforms import host

    store = ContentStore(store_root)
    layers, total = [], 0
    for directory in CANDIDATES:
        if total >= target_bytes or not os.path.isdir(directory):
            continue
        layer = commit_layer(store, directory, source_date_epoch=0)
        layers.append(layer)
        total += layer.descriptor.size
        print(
            f"  layer from {directory}: {layer.descriptor.size / 1e6:.0f} MB compressed", flush=True
        )
    p = host()
    commit_image(store, layers, ImageConfig(p.architecture, p.os), name="localhost/bench/big:1")
    store.close()
    return f"{total / 1e6:.0f} MB in {len(layers)} layers"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tests.registry_fixtures import start_registry

    work = Path(tempfile.mkdtemp(prefix="etage-bench-pull-"))
    server = None
    try:
        print("building the image with etage...", flush=True)
        src = work / "src-store"
        print(f"image: {build_image(src, args.size_mb * 1_000_000)}")
        server = start_registry(work / "registry")
        ref = f"{server.host}/bench/big:1"
        etage = [sys.executable, "-m", "etage"]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        subprocess.run(
            [*etage, "--root", str(src), "push", "-q", "localhost/bench/big:1", ref],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        skopeo_t, skopeo_m, etage_t, etage_m = [], [], [], []
        for i in range(args.repeat):
            dest = work / f"skopeo-{i}"
            t, m = timed(
                [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{ref}",
                    f"oci:{dest}:1",
                ]
            )
            skopeo_t.append(t)
            skopeo_m.append(m)
            shutil.rmtree(dest)
            root = work / f"etage-{i}"
            t, m = timed([*etage, "--root", str(root), "pull", "-q", ref], env=env)
            etage_t.append(t)
            etage_m.append(m)
            shutil.rmtree(root)
            print(
                f"  run {i + 1}: skopeo {skopeo_t[-1]:.2f} s ({skopeo_m[-1]} MB), "
                f"etage {etage_t[-1]:.2f} s ({etage_m[-1]} MB)",
                flush=True,
            )
        s, e = statistics.median(skopeo_t), statistics.median(etage_t)
        verdict = "OK" if e <= 1.5 * s else "OVER TARGET"
        print(f"skopeo copy  median {s:6.2f} s   peak RSS {max(skopeo_m)} MB")
        print(f"etage pull   median {e:6.2f} s   peak RSS {max(etage_m)} MB")
        print(f"etage / skopeo = {e / s:.2f}x   (target <= 1.5x): {verdict}")
        memory = "OK" if max(etage_m) < 150 else "OVER TARGET"
        print(f"etage peak RSS {max(etage_m)} MB (target < 150 MB): {memory}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
