"""The image checks on real builds with planted problems: each must be found with the
Dockerfile line that planted it and its true byte count; a clean image gets nothing
above info."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import BASE, Builder

KB = 1000


def _write_sized(builder: Builder, files: dict[str, int]) -> None:
    builder.write({name: os.urandom(size) for name, size in files.items()})


def _node_app(builder: Builder) -> dict[str, int]:
    """A Node app in the context: its dev packages' files and their sizes."""
    dev = {
        "app/node_modules/typescript/lib/tsc.js": 300 * KB,
        "app/node_modules/typescript/package.json": 1 * KB,
        "app/node_modules/@types/node/index.d.ts": 50 * KB,
        "app/node_modules/jest/node_modules/pretty/index.js": 20 * KB,  # nested, dev too
    }
    prod = {"app/node_modules/express/index.js": 40 * KB, "app/dist/index.js": 2 * KB}
    _write_sized(builder, {**dev, **prod})
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app"},
            "node_modules/typescript": {"version": "5.0.0", "dev": True},
            "node_modules/@types/node": {"version": "20.0.0", "dev": True},
            "node_modules/jest": {"version": "29.0.0", "dev": True},
            "node_modules/jest/node_modules/pretty": {"version": "1.0.0", "dev": True},
            "node_modules/express": {"version": "4.0.0"},
        },
    }
    builder.write(
        {
            "app/node_modules/.package-lock.json": json.dumps(lock),
            "app/package.json": json.dumps({"name": "app", "devDependencies": {"typescript": "5"}}),
        }
    )
    builder.write({"app/node_modules/jest/package.json": "{}"})
    return {**dev, "app/node_modules/jest/package.json": 2}


PLANTED = f"""\
FROM {BASE}
WORKDIR /app
COPY app/ /app/
RUN mkdir -p /usr/lib/gcc/x86_64-linux-gnu/12 /root/.npm/_cacache \\
 && head -c 400000 /dev/urandom > /usr/lib/gcc/x86_64-linux-gnu/12/cc1 \\
 && head -c 250000 /dev/urandom > /root/.npm/_cacache/blob
COPY id_rsa /root/.ssh/id_rsa
RUN rm /root/.ssh/id_rsa
RUN head -c 3000000 /dev/urandom > /tmp/big.bin
RUN rm /tmp/big.bin
COPY srcs/ /app/
ENV API_TOKEN=hunter2
CMD ["node", "dist/index.js"]
"""
KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def _by_rule(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        out.setdefault(f["rule"], []).append(f)
    return out


@pytest.fixture
def planted(builder: Builder) -> tuple[Builder, Any, dict[str, int]]:
    dev = _node_app(builder)
    builder.write({"id_rsa": KEY})
    _write_sized(
        builder,
        {"srcs/src/index.ts": 3 * KB, "srcs/src/app.ts": 2 * KB, "srcs/test/app.test.ts": 1 * KB},
    )
    builder.write({"srcs/.git/HEAD": "ref: refs/heads/main\n", "srcs/.github/ci.yml": "on: push\n"})
    result = builder.build(PLANTED, tags=["planted:1"])
    return builder, result, dev


def test_every_planted_problem_is_found_with_its_line_and_bytes(
    planted: tuple[Builder, Any, dict[str, int]],
) -> None:
    builder, result, dev = planted
    summary = result.summary
    assert summary is not None
    found = _by_rule(summary["findings"])
    (deps,) = found["DevDependenciesShipped"]
    assert deps["line"] == 3 and deps["severity"] == "warning"
    assert deps["bytes"] == sum(dev.values())  # exactly the dev packages' files
    assert "/app/node_modules/typescript" in deps["paths"]
    (gcc,) = found["BuildToolsShipped"]
    assert gcc["line"] == 4 and gcc["bytes"] == 400_000
    assert gcc["paths"] == ["/usr/lib/gcc/x86_64-linux-gnu/12/cc1"]
    (cache,) = found["PackageCacheShipped"]
    assert cache["line"] == 4 and cache["bytes"] == 250_000
    (secret,) = found["SecretInLayer"]
    assert secret["line"] == 7 and secret["severity"] == "error"
    assert "later layer deletes" in secret["message"]
    (wasted,) = [f for f in found["WastedBytes"] if f["line"] == 9]
    assert wasted["bytes"] == 3_000_000 and "line 10" in wasted["message"]
    (sources,) = found["SourcesShipped"]
    assert sources["line"] == 11 and sources["bytes"] == 5 * KB
    (tests,) = found["TestsShipped"]
    assert tests["line"] == 11 and tests["bytes"] == 1 * KB
    (git,) = found["VcsDirectoryShipped"]
    assert git["paths"] == ["/app/.git"] and git["line"] == 11
    (token,) = [f for f in found["SecretInConfig"] if f["paths"] == ["config.Env.API_TOKEN"]]
    assert token["line"] == 12 and token["severity"] == "error"
    for f in summary["findings"]:
        assert f["file"] == "Dockerfile" and f["fix"] and f["layer"].startswith("sha256:")
    # etage check --image finds the same, and exits 1 for the error-level findings
    env = {**os.environ, "ETAGE_NO_FASTPATH": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(builder.root), "check", "--image",
         "planted:1", "--format", "json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["findings"] == summary["findings"]
    text = subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(builder.root), "check", "--image",
         "planted:1"],
        capture_output=True, text=True, env=env, check=False,
    ).stdout  # fmt: skip
    assert "Dockerfile:7:1: error: SecretInLayer" in text
    assert "COPY id_rsa /root/.ssh/id_rsa" in text  # the Dockerfile line, shown in context


def test_a_copy_of_a_whole_build_tree_is_flagged(builder: Builder) -> None:
    builder.write({"x": "x"})
    dockerfile = f"""\
FROM {BASE} AS builder
WORKDIR /app
RUN mkdir -p dist src && echo 'console.log(1)' > dist/index.js \\
 && head -c 2000000 /dev/urandom > src/bundle.map
FROM {BASE}
WORKDIR /app
COPY --from=builder /app /app
CMD ["node", "dist/index.js"]
"""
    result = builder.build(dockerfile)
    assert result.summary is not None
    (copy,) = _by_rule(result.summary["findings"])["OversizedCopy"]
    assert copy["line"] == 7 and copy["paths"] == ["/app/dist"]
    assert abs(copy["bytes"] - 2_000_000) < 0.05 * 2_000_000


def test_python_dev_packages_and_the_context_dev_requirements(builder: Builder) -> None:
    site = "site/usr/lib/python3/site-packages"
    files = {
        f"{site}/pytest/__init__.py": 120 * KB,
        f"{site}/mylinter/core.py": 80 * KB,  # dev only because requirements-dev.txt says so
        f"{site}/requests/api.py": 60 * KB,
    }
    _write_sized(builder, files)
    for name, pkg in (
        ("pytest-8.0.0", "pytest"),
        ("mylinter-1.0", "mylinter"),
        ("requests-2.0", "requests"),
    ):
        path = f"{site}/{pkg}/" + next(Path(p).name for p in files if f"/{pkg}/" in p)
        builder.write({f"{site}/{name}.dist-info/RECORD": f"{path.removeprefix(site + '/')},,\n"})
    builder.write({"requirements-dev.txt": "mylinter==1.0\n# comment\n"})
    result = builder.build(f"FROM {BASE}\nCOPY site/ /\n")
    assert result.summary is not None
    (dev,) = _by_rule(result.summary["findings"])["PythonDevPackagesShipped"]
    assert dev["line"] == 2 and dev["bytes"] == 200 * KB
    assert "mylinter" in dev["message"] and "requests" not in dev["message"]


def test_a_secret_build_arg_in_the_history_is_found(builder: Builder) -> None:
    result = builder.build(
        f"FROM {BASE}\nARG NPM_TOKEN\nRUN echo building\n", build_args={"NPM_TOKEN": "s3cr3t"}
    )
    assert result.summary is not None
    (f,) = _by_rule(result.summary["findings"])["SecretInConfig"]
    assert "NPM_TOKEN" in f["message"] and "s3cr3t" not in json.dumps(f)
    assert f["line"] == 2  # the ARG


def test_a_clean_multi_stage_image_has_nothing_above_info(builder: Builder) -> None:
    builder.write({"main.c": "int main(){return 0;}\n"})
    dockerfile = f"""\
FROM {BASE} AS builder
WORKDIR /src
COPY main.c .
RUN mkdir -p /out && cp /bin/busybox /out/app
FROM {BASE} AS runtime
COPY --from=builder /out/app /usr/local/bin/app
CMD ["/usr/local/bin/app", "true"]
"""
    result = builder.build(dockerfile)
    assert result.summary is not None
    assert [f for f in result.summary["findings"] if f["severity"] != "info"] == []


def test_check_image_of_an_image_not_in_the_store_is_a_usage_error(builder: Builder) -> None:
    env = {**os.environ, "ETAGE_NO_FASTPATH": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(builder.root), "check", "--image", "nosuch:1"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "nosuch:1 is not in the store" in proc.stderr and "etage pull" in proc.stderr
    assert proc.stdout == ""
