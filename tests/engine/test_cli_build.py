"""`etage build` as a user runs it: the real CLI in a subprocess, real runc and overlayfs,
a real registry on 127.0.0.1, and the checks a user would make (what the command printed,
what the image holds, what the store and the machine look like afterwards).

Each test starts from a fresh store holding the busybox base image (tests/engine/conftest.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tarfile
import termios
import time
import uuid
from pathlib import Path
from typing import Any

from tests.engine.conftest import BASE, Builder, mounts, process_alive
from tests.registry_fixtures import RegistryServer, skopeo

from etage.platforms import host

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HEADER = re.compile(r"^#(\d+) (\[[^\]]+\] .*)$")
STATUS = re.compile(r"^#(\d+) (CACHED|DONE|ERROR)\b")

# Two stages; the builder's RUN writes to stdout and stderr.
TWO_STAGES = f"""\
FROM {BASE} AS builder
COPY app.txt /src/
RUN echo "out: $(cat /src/app.txt)" && echo to-stderr >&2

FROM {BASE}
COPY --from=builder /src/app.txt /app.txt
RUN echo final-step
"""


# ---- helpers ---------------------------------------------------------------------------------


def etage(
    root: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(root), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def build(
    b: Builder,
    *args: str | Path,
    dockerfile: str | None = None,
    env: dict[str, str] | None = None,
    context: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`etage --root ROOT build ARGS... CONTEXT` (writing CONTEXT/Dockerfile first if given)."""
    context = context or b.context
    if dockerfile is not None:
        (context / "Dockerfile").write_text(dockerfile)
    return etage(b.root, "build", *args, context, env=env)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def digest_of(proc: subprocess.CompletedProcess[str]) -> str:
    """The digest a successful build printed on stdout."""
    found: list[str] = DIGEST.findall(ok(proc).stdout)
    assert len(found) == 1, proc.stdout
    return found[0]


def steps(stderr: str) -> dict[str, str]:
    """Plain progress -> {"[stage] TEXT": "CACHED" | "DONE" | "ERROR"}."""
    names: dict[str, str] = {}
    status: dict[str, str] = {}
    for line in stderr.splitlines():
        if m := HEADER.match(line):
            names[m[1]] = m[2]
        elif m := STATUS.match(line):
            status[names[m[1]]] = m[2]
    return status


def number(stderr: str, text: str) -> str:
    """The `#N` of the step whose header ends with `text`."""
    for line in stderr.splitlines():
        if (m := HEADER.match(line)) and m[2].endswith(text):
            return m[1]
    raise AssertionError(f"no step {text!r} in:\n{stderr}")


def inspect(root: Path, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(etage(root, "inspect", "--format", "json", ref)).stdout)
    return data


def image_names(root: Path) -> dict[str, str]:
    rows = json.loads(ok(etage(root, "images", "--format", "json")).stdout)
    return {r["name"]: r["digest"] for r in rows}


def in_pty(argv: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run `argv` with stdin, stdout and stderr on a pseudo-terminal (as in an interactive
    shell); its exit status and everything it wrote to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the build under a terminal did not finish")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def screen_lines(raw: str) -> list[str]:
    text = ANSI.sub("", raw)
    return [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def store_state(root: Path) -> dict[str, Any]:
    """What a build may add to a store: blobs, names, snapshots, cached steps."""
    snapshots = root / "snapshots"
    df = json.loads(ok(etage(root, "df", "--format", "json")).stdout)
    return {
        "blobs": sorted(p.name for p in (root / "blobs" / "sha256").iterdir()),
        "refs": image_names(root),
        "snapshots": sorted(p.name for p in snapshots.iterdir() if p.name.isdigit())
        if snapshots.exists()
        else [],
        "cache": (df["build_cache"]["entries"], df["build_cache"]["snapshots"]),
    }


def leftovers(root: Path) -> list[str]:
    tmp = root / "snapshots" / "tmp"
    return [str(p) for p in tmp.iterdir()] if tmp.exists() else []


# ---- progress modes --------------------------------------------------------------------------


def test_plain_progress_shows_steps_run_output_and_cached_on_a_rebuild(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    first = build(builder, "--progress=plain", dockerfile=TWO_STAGES)
    digest = digest_of(first)
    assert first.stdout.strip() == digest  # no -t: only the digest on stdout
    err = first.stderr
    status = steps(err)
    assert sorted(status) == sorted(
        [
            f"[builder] FROM {BASE}",
            "[builder] COPY app.txt /src/",
            '[builder] RUN echo "out: $(cat /src/app.txt)" && echo to-stderr >&2',
            f"[1] FROM {BASE}",
            "[1] COPY --from=builder /src/app.txt /app.txt",
            "[1] RUN echo final-step",
        ]
    ), err  # stages run in parallel: their lines may interleave
    assert all(v == "DONE" for k, v in status.items() if " FROM " not in k), err
    # the RUN's output, stdout and stderr, under its own step number with elapsed time
    n = number(err, "echo to-stderr >&2")
    assert re.search(rf"^#{n} \d+\.\d{{3}} out: hello$", err, re.M), err
    assert re.search(rf"^#{n} \d+\.\d{{3}} to-stderr$", err, re.M), err
    assert f"built {digest}" in err

    again = build(builder, "--progress=plain")
    assert digest_of(again) == digest
    hits = steps(again.stderr)
    assert hits and all(v == "CACHED" for v in hits.values()), again.stderr
    assert "out: hello" not in again.stderr  # nothing ran

    # auto without a terminal (pipes) is plain: the same lines, no escape sequences
    auto = build(builder, "--progress=auto")
    assert digest_of(auto) == digest
    assert steps(auto.stderr) == hits
    assert "\x1b" not in auto.stderr + auto.stdout


def test_rawjson_progress_is_one_json_event_per_line(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    proc = build(builder, "--progress=rawjson", "--build-arg", "UNUSED=1", dockerfile=TWO_STAGES)
    digest = digest_of(proc)
    events = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is JSON
    assert events, proc.stderr
    assert all(isinstance(e["time"], float) and e["type"] for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "BuildStarted"
    assert {"StepStarted", "StepLog", "StepDone", "BuildDone", "Message"} <= set(types)

    started = events[0]
    assert started["target"] == "1" and started["stages"] == ["builder", "1"]
    assert started["pruned"] == []

    lines = TWO_STAGES.splitlines()
    starts = {e["step"]: e for e in events if e["type"] == "StepStarted"}
    dones = [e for e in events if e["type"] == "StepDone"]
    assert len(starts) == 6 and sorted(d["step"] for d in dones) == sorted(starts)
    for e in starts.values():
        assert e["stage"] in ("builder", "1") and e["step"].startswith(e["stage"] + "#")
        assert lines[e["line"] - 1].startswith(e["text"].split()[0]), e  # its Dockerfile line
    for d in dones:  # each step is done after it started, once
        assert events.index(starts[d["step"]]) < events.index(d)
        text = starts[d["step"]]["text"]
        assert isinstance(d["cached"], bool) and (text.startswith("FROM") or not d["cached"])
        assert d["duration"] >= 0 and d["error"] is None and isinstance(d["size"], int)
    run = next(e for e in starts.values() if e["text"].startswith('RUN echo "out'))
    assert run["line"] == 3 and run["stage"] == "builder"
    logs = "".join(e["data"] for e in events if e["type"] == "StepLog" and e["step"] == run["step"])
    assert "out: hello\n" in logs and "to-stderr\n" in logs

    done = next(e for e in events if e["type"] == "BuildDone")
    assert done["digest"] == digest and done["duration"] > 0 and done["names"] == []
    warning = next(e for e in events if e["type"] == "Message")
    assert warning["level"] == "warning" and "UNUSED" in warning["text"]

    again = build(builder, "--progress=rawjson")
    events = [json.loads(line) for line in again.stderr.splitlines()]
    dones = [e for e in events if e["type"] == "StepDone"]
    assert len(dones) == 6 and all(d["cached"] for d in dones)


def test_dash_q_prints_only_the_digest(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    proc = ok(build(builder, "-q", "-t", "localhost/app:q", dockerfile=TWO_STAGES))
    assert DIGEST.fullmatch(proc.stdout.rstrip("\n")) and proc.stdout.endswith("\n")
    assert proc.stderr == ""
    digest = proc.stdout.strip()
    # the digest names the image, as docker's image ID does
    assert inspect(builder.root, digest)["digest"] == digest
    assert image_names(builder.root)["localhost/app:q"] == digest


def test_progress_quiet_prints_only_the_digest_like_dash_q(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    proc = ok(build(builder, "--progress=quiet", "-t", "localhost/app:q", dockerfile=TWO_STAGES))
    assert proc.stderr == ""
    assert DIGEST.fullmatch(proc.stdout.strip()), proc.stdout


def test_tty_progress_under_a_terminal(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    (builder.context / "Dockerfile").write_text(TWO_STAGES)
    argv = [sys.executable, "-m", "etage", "--root", str(builder.root), "build"]
    code, raw = in_pty([*argv, "--progress=tty", str(builder.context)])
    lines = screen_lines(raw)
    assert code == 0, raw
    text = "\n".join(lines)
    assert "[+] Building" in text
    assert "[builder] COPY app.txt /src/" in text and "[1] RUN echo final-step" in text
    assert DIGEST.fullmatch(lines[-1]), lines[-5:]  # the digest comes last, on its own line
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")  # the cursor is shown again
    assert "Traceback" not in raw

    # auto on a terminal is the live view; a rebuild shows CACHED
    code, raw = in_pty([*argv, "--progress=auto", str(builder.context)])
    lines = screen_lines(raw)
    assert code == 0, raw
    assert "[+] Building" in raw and "CACHED" in raw
    assert DIGEST.fullmatch(lines[-1]), lines[-5:]

    # a failing step under the live view: a clean error, the terminal restored
    (builder.context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo boom && exit 3\n")
    code, raw = in_pty([*argv, "--progress=tty", str(builder.context)])
    assert code == 1, raw
    text = "\n".join(screen_lines(raw))
    assert "Dockerfile:2" in text and "exit code: 3" in text and "boom" in text
    assert "Traceback" not in raw and "internal error" not in raw
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")


# ---- build options ---------------------------------------------------------------------------


def test_iidfile_metadata_file_tags_and_labels(builder: Builder, tmp_path: Path) -> None:
    builder.write({"app.txt": "hello\n"})
    dockerfile = TWO_STAGES + "LABEL kept=from-dockerfile overridden=from-dockerfile\n"
    iid, meta = tmp_path / "iid", tmp_path / "meta.json"
    proc = build(
        builder, "-t", "localhost/app:1", "-t", "localhost/app:2", "--label", "org.example.k=v",
        "--label", "overridden=from-cli", "--label", "empty=", "--iidfile", iid,
        "--metadata-file", meta, dockerfile=dockerfile,
    )  # fmt: skip
    digest = digest_of(proc)
    assert iid.read_text() == digest
    data = json.loads(meta.read_text())
    assert data["containerimage.digest"] == digest
    assert DIGEST.fullmatch(data["containerimage.config.digest"])
    assert data["image.name"].split(",") == ["localhost/app:1", "localhost/app:2"]
    names = image_names(builder.root)
    assert names["localhost/app:1"] == names["localhost/app:2"] == digest
    image = inspect(builder.root, "localhost/app:2")
    assert image["digest"] == digest
    labels = image["config"]["config"]["Labels"]
    assert labels == {
        "kept": "from-dockerfile",
        "overridden": "from-cli",  # --label wins over LABEL, as in docker build
        "org.example.k": "v",
        "empty": "",
    }


def test_build_args_and_the_warning_for_an_unused_one(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE}
ARG GREETING=default
ARG FROMENV
RUN echo "$GREETING/$FROMENV" > /args
"""
    out = tmp_path / "fs"
    proc = build(
        builder, "--progress=plain", "--build-arg", "GREETING=hello", "--build-arg", "FROMENV",
        "--build-arg", "UNUSED=x", "-o", f"type=local,dest={out}",
        dockerfile=dockerfile, env={"FROMENV": "from-env"},
    )  # fmt: skip
    ok(proc)
    assert (out / "args").read_text() == "hello/from-env\n"
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "UNUSED" in warnings[0], proc.stderr
    assert "GREETING" not in warnings[0] and "FROMENV" not in warnings[0]

    proc = ok(build(builder, "--progress=plain", "-o", f"type=local,dest={out}"))
    assert (out / "args").read_text() == "default/\n"
    assert "WARNING" not in proc.stderr


def test_target_builds_that_stage_and_only_what_it_needs(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE} AS broken
RUN exit 3

FROM {BASE} AS base
RUN echo base > /base

FROM base AS final
RUN echo final > /final
"""
    out = tmp_path / "fs"
    proc = ok(build(builder, "--progress=plain", "--target", "base", "-o", f"type=local,dest={out}",
                    dockerfile=dockerfile))  # fmt: skip
    assert (out / "base").read_text() == "base\n" and not (out / "final").exists()
    assert "building target base: stages base (pruned: broken, final)" in proc.stderr
    assert not any(s.startswith(("[broken]", "[final]")) for s in steps(proc.stderr))

    proc = build(builder, "--target", "broken")
    assert proc.returncode == 1 and "exit code: 3" in proc.stderr

    proc = build(builder, "--target", "finnal")
    assert proc.returncode != 0 and "finnal" in proc.stderr and '"final"' in proc.stderr
    assert "Traceback" not in proc.stderr


def test_platform_native_works_and_another_is_a_clear_error(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    native = str(host())
    plain = digest_of(build(builder, "-q", dockerfile=TWO_STAGES))
    assert digest_of(build(builder, "-q", "--platform", native)) == plain
    other = "linux/arm64" if host().architecture != "arm64" else "linux/amd64"
    before = store_state(builder.root)
    proc = build(builder, "--platform", other)
    assert proc.returncode != 0
    assert other in proc.stderr and native in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert store_state(builder.root) == before


def test_secrets_from_a_file_and_from_the_environment(builder: Builder, tmp_path: Path) -> None:
    token = tmp_path / "token.txt"
    token.write_text("file-secret-value")
    dockerfile = f"""\
FROM {BASE}
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /from-file
RUN --mount=type=secret,id=api,target=/api-key cat /api-key > /from-env
"""
    out = tmp_path / "fs"
    env = {"MY_API_KEY": "env-secret-value"}
    proc = build(
        builder, "--secret", f"id=tok,src={token}", "--secret", "id=api,env=MY_API_KEY",
        "-t", "localhost/secrets:1", "-o", f"type=local,dest={out}", dockerfile=dockerfile,
        env=env,
    )  # fmt: skip
    ok(proc)
    assert (out / "from-file").read_text() == "file-secret-value"
    assert (out / "from-env").read_text() == "env-secret-value"
    assert not (out / "run/secrets/tok").exists() and not (out / "api-key").exists()
    # the secrets are in no history entry of the image
    digest = digest_of(ok(build(builder, "-q", "--secret", f"id=tok,src={token}",
                                "--secret", "id=api,env=MY_API_KEY", env=env)))  # fmt: skip
    config = json.dumps(inspect(builder.root, digest)["config"])
    assert "secret-value" not in config

    missing = build(builder, "--secret", f"id=tok,src={token}", "--secret", "id=api,env=NOPE_VAR")
    assert missing.returncode != 0 and "NOPE_VAR" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_no_cache_and_no_cache_filter(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    ok(build(builder, dockerfile=TWO_STAGES))
    everything = build(builder, "--progress=plain", "--no-cache")
    ok(everything)
    ran = {k: v for k, v in steps(everything.stderr).items() if " FROM " not in k}
    assert len(ran) == 4 and set(ran.values()) == {"DONE"}, everything.stderr

    filtered = build(builder, "--progress=plain", "--no-cache-filter", "builder")
    hits = steps(filtered.stderr)
    assert hits["[builder] COPY app.txt /src/"] == "DONE"
    assert hits['[builder] RUN echo "out: $(cat /src/app.txt)" && echo to-stderr >&2'] == "DONE"
    assert "out: hello" in filtered.stderr
    # the other stage's steps hit: what they read is unchanged
    assert hits["[1] COPY --from=builder /src/app.txt /app.txt"] == "CACHED"
    assert hits["[1] RUN echo final-step"] == "CACHED"


def test_explain_cache_names_the_changed_file(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n", "other.txt": "o\n"})
    ok(build(builder, dockerfile=TWO_STAGES))
    builder.write({"app.txt": "changed\n"})
    proc = ok(build(builder, "--progress=plain", "--explain-cache"))
    err = proc.stderr
    copy = number(err, "[builder] COPY app.txt /src/")
    explained = re.findall(rf"^#{copy} cache: (.*)$", err, re.M)
    assert len(explained) == 1 and "app.txt" in explained[0], err
    assert "other.txt" not in explained[0]
    assert steps(err)["[builder] COPY app.txt /src/"] == "DONE"
    run = number(err, "echo to-stderr >&2")
    assert re.search(rf"^#{run} cache: .+", err, re.M), err
    # an unchanged rebuild explains each hit
    again = ok(build(builder, "--progress=plain", "--explain-cache")).stderr
    copy = number(again, "[builder] COPY app.txt /src/")  # parallel stages: numbers vary
    assert re.search(rf"^#{copy} cache: .*hit", again, re.M), again


def test_pull_fetches_the_base_again_from_the_registry(
    builder: Builder, registry: RegistryServer, tmp_path: Path
) -> None:
    remote = f"{registry.host}/cli-build/base-{uuid.uuid4().hex[:8]}:1"
    marked = tmp_path / "marked"
    marked.mkdir()
    ok(build(builder, "-q", "-t", "localhost/marked:1", context=marked,
             dockerfile=f"FROM {BASE}\nRUN echo remote > /which\n"))  # fmt: skip
    ok(etage(builder.root, "push", "localhost/marked:1", remote))
    # the store's image of that name is another one: plain busybox
    ok(etage(builder.root, "tag", BASE, remote))
    dockerfile = f"FROM {remote}\nRUN cat /which > /seen 2>/dev/null || echo local > /seen\n"
    out = tmp_path / "fs"
    ok(build(builder, "-o", f"type=local,dest={out}", dockerfile=dockerfile))
    assert (out / "seen").read_text() == "local\n"  # without --pull the store's image is used
    proc = ok(build(builder, "--progress=plain", "--pull", "-o", f"type=local,dest={out}"))
    assert (out / "seen").read_text() == "remote\n"
    assert steps(proc.stderr)[f"[0] FROM {remote}"] == "DONE"  # fetched, not cached


# ---- outputs ---------------------------------------------------------------------------------


def test_oci_docker_and_local_outputs(builder: Builder, tmp_path: Path) -> None:
    builder.write({"app.txt": "hello\n"})
    oci, docker, local = tmp_path / "x.oci.tar", tmp_path / "x.docker.tar", tmp_path / "fs"
    dockerfile = TWO_STAGES + 'CMD ["cat", "/app.txt"]\n'
    proc = build(
        builder, "-t", "localhost/out:1", "-o", f"type=oci,dest={oci}",
        "-o", f"type=docker,dest={docker}", "-o", f"type=local,dest={local}",
        dockerfile=dockerfile,
    )  # fmt: skip
    digest = digest_of(proc)
    stored = inspect(builder.root, digest)
    for transport in (f"oci-archive:{oci}", f"docker-archive:{docker}"):
        info = json.loads(skopeo("inspect", transport))
        assert info["Os"] == "linux" and info["Architecture"] == host().architecture
        assert len(info["Layers"]) == len(stored["layers"])
        config = json.loads(skopeo("inspect", "--config", transport))
        assert config["config"]["Cmd"] == ["cat", "/app.txt"]
    assert json.loads(skopeo("inspect", "--config", f"oci-archive:{oci}")) == stored["config"]
    with tarfile.open(docker) as archive:  # `docker load` names the image after -t
        member = archive.extractfile("manifest.json")
        assert member is not None
        assert json.load(member)[0]["RepoTags"] == ["localhost/out:1"]
    assert (local / "app.txt").read_text() == "hello\n"
    assert (local / "bin/busybox").is_file() and not (local / "src").exists()
    # the image also went to the store under its name
    assert image_names(builder.root)["localhost/out:1"] == digest


def test_push_to_a_registry_with_output_type_image_and_with_push(
    builder: Builder, registry: RegistryServer, tmp_path: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    repo = f"{registry.host}/cli-build/app-{uuid.uuid4().hex[:8]}"
    meta = tmp_path / "meta.json"
    dockerfile = TWO_STAGES + 'CMD ["cat", "/app.txt"]\n'
    proc = build(builder, "--progress=plain", "--metadata-file", meta,
                 "-o", f"type=image,name={repo}:1,push=true", dockerfile=dockerfile)  # fmt: skip
    ok(proc)
    assert f"pushed {repo}:1" in proc.stderr
    metadata = json.loads(meta.read_text())
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:1"))
    config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", f"docker://{repo}:1"))
    assert config["config"]["Cmd"] == ["cat", "/app.txt"]
    assert remote["Digest"] in proc.stderr  # the pushed digest is shown

    # another store pulls it: the same config (the same image), the same digest as skopeo
    other = tmp_path / "other"
    pulled = ok(etage(other, "pull", f"{repo}:1"))
    assert f"digest {remote['Digest']}" in pulled.stdout
    image = inspect(other, f"{repo}:1")
    assert image["manifest"]["config"]["digest"] == metadata["containerimage.config.digest"]
    out = tmp_path / "fs"
    ok(etage(other, "unpack", f"{repo}:1", out))
    assert (out / "app.txt").read_text() == "hello\n"

    # --push pushes the -t names
    ok(build(builder, "-q", "--push", "-t", f"{repo}:2"))
    again = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:2"))
    assert again["Digest"] == remote["Digest"]


def test_the_reported_digest_names_the_pushed_manifest(
    builder: Builder, registry: RegistryServer, tmp_path: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    repo = f"{registry.host}/cli-build/digest-{uuid.uuid4().hex[:8]}"
    iid, meta = tmp_path / "iid", tmp_path / "meta.json"
    proc = build(builder, "--iidfile", iid, "--metadata-file", meta,
                 "-o", f"type=image,name={repo}:1,push=true", dockerfile=TWO_STAGES)  # fmt: skip
    digest = digest_of(proc)
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:1"))
    assert remote["Digest"] == digest == iid.read_text()
    assert json.loads(meta.read_text())["containerimage.digest"] == digest


def test_the_reported_digest_names_the_oci_archive_manifest(
    builder: Builder, tmp_path: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    oci = tmp_path / "x.tar"
    digest = digest_of(build(builder, "-o", f"type=oci,dest={oci}", dockerfile=TWO_STAGES))
    assert json.loads(skopeo("inspect", f"oci-archive:{oci}"))["Digest"] == digest


def test_output_type_registry_takes_its_name_from_dash_t(
    builder: Builder, registry: RegistryServer
) -> None:
    builder.write({"app.txt": "hello\n"})
    repo = f"{registry.host}/cli-build/named-{uuid.uuid4().hex[:8]}"
    ok(build(builder, "-q", "-t", f"{repo}:1", "-o", "type=registry", dockerfile=TWO_STAGES))
    ok(build(builder, "-q", "-t", f"{repo}:2", "-o", "type=image,push=true"))
    for tag in ("1", "2"):
        assert json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:{tag}"))


def test_push_without_a_tag_is_an_error(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    proc = build(builder, "--push", dockerfile=TWO_STAGES)
    assert proc.returncode != 0 and "tag" in proc.stderr, proc.stdout + proc.stderr


# ---- named build contexts --------------------------------------------------------------------


def make_marked(builder: Builder, tmp_path: Path, name: str = "localhost/marked:1") -> str:
    """An image in the store that differs from the base: /marker holds `marked`."""
    ctx = tmp_path / "marked-ctx"
    ctx.mkdir(exist_ok=True)
    return digest_of(build(builder, "-q", "-t", name, context=ctx,
                           dockerfile=f"FROM {BASE}\nRUN echo marked > /marker\n"))  # fmt: skip


SEEN = "RUN cat /marker > /seen 2>/dev/null || echo plain-base > /seen\n"


def test_build_context_directory_and_docker_image_override(
    builder: Builder, tmp_path: Path
) -> None:
    make_marked(builder, tmp_path)
    extra = tmp_path / "extra"
    (extra / "sub").mkdir(parents=True)
    (extra / "sub/f.txt").write_text("from the named directory\n")
    dockerfile = f"""\
FROM {BASE}
COPY --from=extra sub/f.txt /dir.txt
COPY --from=tools /marker /tools-marker
{SEEN}"""
    out = tmp_path / "fs"
    before = image_names(builder.root)
    proc = build(
        builder, "--build-context", f"extra={extra}",
        "--build-context", "tools=docker-image://localhost/marked:1",
        "--build-context", f"{BASE}=docker-image://localhost/marked:1",
        "-o", f"type=local,dest={out}", dockerfile=dockerfile,
    )  # fmt: skip
    ok(proc)
    assert (out / "dir.txt").read_text() == "from the named directory\n"
    assert (out / "tools-marker").read_text() == "marked\n"
    assert (out / "seen").read_text() == "marked\n"  # FROM used the override, not BASE
    assert image_names(builder.root) == before  # named contexts add no names to the store

    # without the override, FROM is the store's image of that name
    proc = ok(build(builder, "--build-context", f"extra={extra}",
                    "--build-context", "tools=docker-image://localhost/marked:1",
                    "-o", f"type=local,dest={out}"))  # fmt: skip
    assert (out / "seen").read_text() == "plain-base\n"

    # a directory context changes: the COPY from it misses, and sees the new file
    (extra / "sub/f.txt").write_text("changed\n")
    proc = ok(build(builder, "--progress=plain", "--build-context", f"extra={extra}",
                    "--build-context", "tools=docker-image://localhost/marked:1",
                    "-o", f"type=local,dest={out}"))  # fmt: skip
    assert steps(proc.stderr)["[0] COPY --from=extra sub/f.txt /dir.txt"] == "DONE"
    assert (out / "dir.txt").read_text() == "changed\n"


def test_build_context_oci_layout_by_tag_and_by_digest(builder: Builder, tmp_path: Path) -> None:
    digest = make_marked(builder, tmp_path)
    layout = tmp_path / "layout"
    ok(etage(builder.root, "save", "-o", f"{layout}/", "localhost/marked:1"))
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1"
    before = image_names(builder.root)
    out = tmp_path / "fs"
    proc = build(builder, "--build-context", f"lay=oci-layout://{layout}:1",
                 "-o", f"type=local,dest={out}", dockerfile=f"FROM lay\n{SEEN}")  # fmt: skip
    ok(proc)
    assert (out / "seen").read_text() == "marked\n"
    dockerfile = f"FROM {BASE}\nCOPY --from=lay /marker /copied\n"
    proc = build(builder, "--build-context", f"lay=oci-layout://{layout}@{digest}",
                 "-o", f"type=local,dest={out}", dockerfile=dockerfile)  # fmt: skip
    ok(proc)
    assert (out / "copied").read_text() == "marked\n"
    assert image_names(builder.root) == before


def test_build_context_name_matches_from_as_buildkit_normalizes_it(
    builder: Builder, tmp_path: Path
) -> None:
    make_marked(builder, tmp_path)
    ok(etage(builder.root, "tag", BASE, "localhost/plain:latest"))
    out = tmp_path / "fs"
    proc = build(builder, "--build-context", "localhost/plain=docker-image://localhost/marked:1",
                 "-o", f"type=local,dest={out}",
                 dockerfile=f"FROM localhost/plain:latest\n{SEEN}")  # fmt: skip
    ok(proc)
    assert (out / "seen").read_text() == "marked\n"


# ---- Ctrl-C ----------------------------------------------------------------------------------


def _our_runs(root: Path) -> list[Path]:
    """The runc bundle directories of RUNs whose root filesystem is in this store."""
    base = Path("/run/etage/runc")
    found = []
    for entry in base.iterdir() if base.exists() else ():
        try:
            config = (entry / "config.json").read_text()
        except OSError:
            continue
        if str(root) in config:
            found.append(entry)
    return found


def test_ctrl_c_during_a_run_stops_quickly_and_leaves_nothing(builder: Builder) -> None:
    marker = f"etage-sigint-{uuid.uuid4().hex[:12]}"
    # the marker stays in the shell's command line (busybox sh execs a last command)
    dockerfile = (
        f"FROM {BASE}\nRUN echo a > /a\nRUN echo started-{marker} && sleep 30 && echo {marker}\n"
    )
    (builder.context / "Dockerfile").write_text(dockerfile)
    argv = [sys.executable, "-m", "etage", "--root", str(builder.root), "build",
            "--progress=plain", str(builder.context)]  # fmt: skip
    # its own process group, as a shell gives a foreground job: Ctrl-C signals the group
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
    assert proc.stdout is not None
    output: list[bytes] = []
    runs: list[Path] = []
    try:
        for line in proc.stdout:
            output.append(line)
            if f"started-{marker}".encode() in line and b"RUN" not in line:
                break
        deadline = time.monotonic() + 10
        while not (process_alive(marker) and runs) and time.monotonic() < deadline:
            runs = _our_runs(builder.root)
            time.sleep(0.05)
        assert process_alive(marker) and runs, b"".join(output).decode()
        assert all((run / "state").is_dir() for run in runs)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        output.append(proc.stdout.read())
        code = proc.wait(timeout=20)
        elapsed = time.monotonic() - sent
    finally:
        proc.stdout.close()
        if proc.poll() is None:  # the test failed: stop it, and let a build reap what it left
            proc.kill()
            proc.wait()
            build(builder, dockerfile=f"FROM {BASE}\n")
    text = b"".join(output).decode(errors="replace")
    assert code == 130, text  # cli.handle_errors: KeyboardInterrupt -> "interrupted", 130
    assert elapsed < 5, elapsed
    assert text.rstrip().endswith("interrupted") and "Traceback" not in text
    # no container, no bundle, no mount, no scratch directory
    assert not process_alive(marker)
    assert not any(run.exists() for run in runs)
    assert _our_runs(builder.root) == []
    assert mounts(builder.root) == []
    assert leftovers(builder.root) == []
    # the store still builds: the step before the interrupted one is cached
    proc2 = ok(build(builder, "--progress=plain",
                     dockerfile=dockerfile.replace("sleep 30", "echo finished")))  # fmt: skip
    hits = steps(proc2.stderr)
    assert hits["[0] RUN echo a > /a"] == "CACHED"
    assert hits[f"[0] RUN echo started-{marker} && echo finished && echo {marker}"] == "DONE"
    assert ok(etage(builder.root, "verify")).stdout.rstrip().endswith("consistent")


# ---- bad input -------------------------------------------------------------------------------


def test_bad_input_is_a_clear_error_and_changes_nothing(builder: Builder) -> None:
    # a syntax error, in a fresh store: nothing is even unpacked
    before = store_state(builder.root)
    proc = build(builder, dockerfile=f"FROM {BASE}\nRUN echo ok\nRUNN echo typo\n")
    assert proc.returncode != 0 and proc.stdout == ""
    assert re.search(r"Dockerfile:3: error: .*RUNN", proc.stderr), proc.stderr
    assert "\nhint: " in proc.stderr and "Traceback" not in proc.stderr
    assert store_state(builder.root) == before
    assert not (builder.root / "snapshots").exists() or leftovers(builder.root) == []

    # a missing COPY source, after a build that unpacked the base and cached the RUN
    ok(build(builder, dockerfile=f"FROM {BASE}\nRUN echo ok > /ok\n"))
    before = store_state(builder.root)
    builder.write({"present.txt": "p\n"})
    proc = build(builder, dockerfile=f"FROM {BASE}\nRUN echo ok > /ok\nCOPY missing.txt /\n")
    assert proc.returncode == 1 and proc.stdout == ""
    assert re.search(r"Dockerfile:3: error: .*missing\.txt.*not found", proc.stderr), proc.stderr
    assert "    3 | COPY missing.txt /" in proc.stderr
    assert "\nhint: " in proc.stderr and "Traceback" not in proc.stderr
    assert store_state(builder.root) == before
    assert mounts(builder.root) == [] and leftovers(builder.root) == []


def test_a_dockerfile_syntax_error_exits_1_like_docker_build(builder: Builder) -> None:
    proc = build(builder, dockerfile=f"FROM {BASE}\nRUNN echo typo\n")
    assert proc.returncode == 1, proc.stderr


def test_a_missing_context_file_hint_names_the_build_context(builder: Builder) -> None:
    proc = build(builder, dockerfile=f"FROM {BASE}\nCOPY missing.txt /\n")
    assert proc.returncode == 1
    hint = next(line for line in proc.stderr.splitlines() if line.startswith("hint: "))
    assert "build context" in hint, hint


def test_a_relative_root_builds(builder: Builder) -> None:
    (builder.context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo ran > /ran\n")
    proc = subprocess.run(
        [sys.executable, "-m", "etage", "--root", builder.root.name, "build",
         str(builder.context)],
        capture_output=True, text=True, timeout=120, check=False, cwd=builder.root.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_a_failed_build_leaves_no_stale_iidfile(builder: Builder, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    ok(build(builder, "--iidfile", iid, dockerfile=f"FROM {BASE}\nRUN echo ok\n"))
    assert DIGEST.fullmatch(iid.read_text())
    proc = build(builder, "--iidfile", iid, dockerfile=f"FROM {BASE}\nRUN exit 5\n")
    assert proc.returncode == 1
    assert not iid.exists(), "the previous build's digest is still in the iidfile"
