"""The build engine end to end: real runc, real overlayfs, a real store.

Each test builds in a fresh store holding a busybox base image and checks what a user
would check: what the image contains, what its config says, which steps ran.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import BASE, Builder, cached, mounts, process_alive

from etage.engine.fsops import StepFailed
from etage.errors import EtageError
from etage.events import StepDone, StepStarted
from etage.transfer import resolve_local

MULTI = f"""\
FROM {BASE} AS builder
WORKDIR /src
COPY app.txt ./
RUN cat app.txt app.txt > /src/out.txt && echo built
RUN echo unrelated > /src/notes.txt

FROM {BASE} AS runtime
ENV GREETING=hi
COPY --from=builder /src/out.txt /srv/
CMD ["cat", "/srv/out.txt"]
"""


def test_multistage_build_runs_steps_then_a_noop_rebuild_hits_everything(
    builder: Builder,
) -> None:
    builder.write({"app.txt": "hello\n"})
    first = builder.build(MULTI, tags=["app:1"])
    assert not any(s.cached for s in first.steps if s.text.startswith(("RUN", "COPY")))
    store = builder.store()
    try:
        image = resolve_local(store, "app:1")
        assert str(image.descriptor.digest) == first.digest
        config = image.config.config
        assert config["Cmd"] == ["cat", "/srv/out.txt"]
        assert "GREETING=hi" in config["Env"]
        # the base's layer, then exactly one layer for COPY --from
        assert len(image.manifest.layers) == 2
    finally:
        store.close()

    # each step of the final stage that made a layer names it, with its size
    copied = next(s for s in first.steps if s.text.startswith("COPY --from"))
    assert copied.layer == str(image.manifest.layers[1].digest)
    assert copied.size == len("hello\nhello\n")  # the bytes of what it added
    assert all(s.layer is None for s in first.steps if s.step.startswith("builder"))

    second = builder.build(MULTI, tags=["app:1"])
    assert all(cached(second).values()), cached(second)
    assert second.digest == first.digest


def test_the_built_image_runs_and_holds_what_the_builder_made(
    builder: Builder, tmp_path: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    out = tmp_path / "fs"
    builder.build(MULTI, outputs=[f"type=local,dest={out}"])
    assert (out / "srv/out.txt").read_text() == "hello\nhello\n"
    assert not (out / "src").exists()  # the builder's tree did not ship
    assert (out / "bin/busybox").is_file()


def test_copy_from_hits_when_the_copied_file_is_unchanged(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    # the builder's last RUN changes, the file the runtime copies does not
    changed = MULTI.replace("echo unrelated", "echo something-else")
    result = builder.build(changed)
    hits = cached(result)
    assert hits["[builder] RUN echo something-else > /src/notes.txt"] is False
    assert hits["[runtime] COPY --from=builder /src/out.txt /srv/"] is True


def test_an_unchanged_stage_is_not_hashed_again_by_copy_from(
    builder: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etage.runtime import checksum

    walked: list[tuple[str, ...]] = []
    real = checksum.source_checksum

    def spy(root: Path, sources: tuple[str, ...], **kwargs: object) -> object:
        walked.append(sources)
        return real(root, sources, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checksum, "source_checksum", spy)
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    assert ("/src/out.txt",) in walked
    walked.clear()
    changed = MULTI.replace("ENV GREETING=hi", "ENV GREETING=hello")
    result = builder.build(changed)  # a full build (not a replay): the runtime stage re-runs
    assert all(cached(result).values())
    assert ("/src/out.txt",) not in walked  # the builder's snapshot was summed before
    assert ("app.txt",) in walked  # context files are always checked


def test_copy_from_is_never_served_stale_after_its_source_changed(
    builder: Builder, tmp_path: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    builder.write({"app.txt": "bye\n"})
    out = tmp_path / "fs"
    result = builder.build(MULTI, outputs=[f"type=local,dest={out}"])
    hits = cached(result)
    assert hits["[builder] COPY app.txt ./"] is False
    assert hits["[runtime] COPY --from=builder /src/out.txt /srv/"] is False
    assert (out / "srv/out.txt").read_text() == "bye\nbye\n"


def test_a_failing_run_names_stage_line_exit_code_and_output_and_leaks_nothing(
    builder: Builder,
) -> None:
    dockerfile = (
        f"FROM {BASE} AS compile\nRUN echo first-line\nRUN echo oops; echo err >&2; exit 7\n"
    )
    with pytest.raises(StepFailed) as info:
        builder.build(dockerfile)
    err = info.value
    assert "stage compile" in str(err)
    assert "exit code: 7" in str(err)
    assert err.location is not None and err.location.line == 3
    assert err.hint is not None and "oops" in err.hint and "err" in err.hint
    assert mounts(builder.root) == []
    assert list((builder.root / "snapshots" / "tmp").glob("*")) == []
    # the store is usable: the step before the failure is cached
    again = f"FROM {BASE} AS compile\nRUN echo first-line\n"
    assert all(cached(builder.build(again)).values())


def test_only_the_stages_the_target_needs_are_built(builder: Builder) -> None:
    dockerfile = f"""\
FROM {BASE} AS broken
RUN exit 1

FROM {BASE} AS a
RUN echo a > /a

FROM {BASE} AS final
COPY --from=a /a /a
"""
    result = builder.build(dockerfile)
    assert {s.label for s in result.stages} == {"a", "final"}
    with pytest.raises(StepFailed):
        builder.build(dockerfile, target="broken")


def test_args_do_not_leak_between_sibling_stages(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
ARG V=global
FROM {BASE} AS one
ARG V
RUN echo "one=$V" > /one

FROM {BASE} AS two
RUN echo "two=$V" > /two

FROM {BASE}
COPY --from=one /one /
COPY --from=two /two /
"""
    out = tmp_path / "fs"
    builder.build(dockerfile, build_args={"V": "cli"}, outputs=[f"type=local,dest={out}"])
    assert (out / "one").read_text() == "one=cli\n"
    assert (out / "two").read_text() == "two=\n"
    # a new value of V reruns stage one only
    result = builder.build(dockerfile, build_args={"V": "other"})
    hits = cached(result)
    assert hits['[one] RUN echo "one=$V" > /one'] is False
    assert hits['[two] RUN echo "two=$V" > /two'] is True


def test_no_cache_and_no_cache_filter(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    everything = builder.build(MULTI, no_cache=True)
    assert not any(s.cached for s in everything.steps if not s.text.startswith("FROM"))
    filtered = builder.build(MULTI, no_cache_filter=["builder"])
    hits = cached(filtered)
    assert hits["[builder] COPY app.txt ./"] is False
    # the runtime stage's own step stays cached: its input file is the same
    assert hits["[runtime] COPY --from=builder /src/out.txt /srv/"] is True


def test_source_date_epoch_gives_the_same_digest_in_two_stores(
    builder: Builder, tmp_path: Path, base_store: Path
) -> None:
    builder.write({"app.txt": "hello\n"})
    first = builder.build(MULTI, build_args={"SOURCE_DATE_EPOCH": "1700000000"})
    other = Builder(tmp_path / "root2", builder.context)
    shutil.copytree(base_store, other.root, symlinks=True)
    second = other.build(MULTI, build_args={"SOURCE_DATE_EPOCH": "1700000000"})
    assert first.digest == second.digest
    store = builder.store()
    try:
        config = resolve_local(store, first.digest).config
        assert config.created == "2023-11-14T22:13:20Z"
        assert all(h.created == "2023-11-14T22:13:20Z" for h in config.history[-3:])
    finally:
        store.close()


def test_secrets_reach_the_run_and_nothing_else(builder: Builder, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    dockerfile = f"""\
FROM {BASE}
RUN --mount=type=secret,id=token cat /run/secrets/token > /seen && ls /run/secrets
"""
    out = tmp_path / "fs"
    archive = tmp_path / "image.tar"
    builder.build(
        dockerfile,
        secrets=[f"id=token,src={secret}"],
        outputs=[f"type=local,dest={out}"],
    )
    assert (out / "seen").read_text() == "s3cr3t-value"
    builder.build(
        dockerfile, secrets=[f"id=token,src={secret}"], outputs=[f"type=oci,dest={archive}"]
    )
    # the secret file itself is in no layer and in no history entry
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member)
            assert data is not None
            blob = data.read()
            if blob[:2] == b"\x1f\x8b":
                import gzip

                blob = gzip.decompress(blob)
            names = []
            if member.name.startswith("blobs/") and blob[257:262] == b"ustar":
                import io

                with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
                    names = layer.getnames()
            assert not any("run/secrets/token" in n for n in names), names
            if b'"history"' in blob:
                assert b"s3cr3t" not in blob


def test_cache_mounts_persist_across_builds(builder: Builder, tmp_path: Path) -> None:
    first = f"FROM {BASE}\nRUN --mount=type=cache,target=/cache echo one >> /cache/log\n"
    builder.build(first)
    second = (
        f"FROM {BASE}\nRUN --mount=type=cache,target=/cache cp /cache/log /seen"
        " && echo two >> /cache/log\n"
    )
    out = tmp_path / "fs"
    builder.build(second, outputs=[f"type=local,dest={out}"])
    assert (out / "seen").read_text() == "one\n"
    assert not (out / "cache" / "log").exists()  # a cache mount is not in the layer


def test_bind_mounts_of_the_context_see_only_what_dockerignore_keeps(
    builder: Builder, tmp_path: Path
) -> None:
    builder.write(
        {".dockerignore": "secret.txt\nlogs/\n", "keep.txt": "k\n", "secret.txt": "s\n",
         "logs/a.log": "l\n", "src/main.c": "c\n"}
    )  # fmt: skip
    dockerfile = f"""\
FROM {BASE}
RUN --mount=type=bind,target=/ctx cd /ctx && find . | sort > /all.txt
RUN --mount=type=bind,source=src,target=/src,rw touch /src/new && ls /src > /src.txt
"""
    out = tmp_path / "fs"
    builder.build(dockerfile, outputs=[f"type=local,dest={out}"])
    listed = (out / "all.txt").read_text().split()
    assert "./keep.txt" in listed and "./src/main.c" in listed
    assert "./secret.txt" not in listed and "./logs" not in listed
    assert (out / "src.txt").read_text().split() == ["main.c", "new"]
    assert not (builder.context / "src/new").exists()  # rw binds write to a copy


class _Files(http.server.BaseHTTPRequestHandler):
    body = b"v1\n"

    def do_GET(self) -> None:
        if self.path != "/file.txt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_add_of_a_url_is_cached_by_the_content_served(builder: Builder, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        dockerfile = f"FROM {BASE}\nADD {url}/file.txt /srv/\nRUN cat /srv/file.txt > /seen\n"
        _Files.body = b"v1\n"
        builder.build(dockerfile)
        assert all(cached(builder.build(dockerfile)).values())  # same content: hits
        _Files.body = b"v2, longer\n"
        out = tmp_path / "fs"
        result = builder.build(dockerfile, outputs=[f"type=local,dest={out}"])
        assert not any(s.cached for s in result.steps if s.text.startswith(("ADD", "RUN")))
        assert (out / "seen").read_bytes() == b"v2, longer\n"
        with pytest.raises(EtageError) as err:
            builder.build(f"FROM {BASE}\nADD {url}/missing.txt /srv/\n")
        assert "404" in str(err.value) and "Dockerfile:2" in str(err.value)
    finally:
        server.shutdown()
        server.server_close()


def test_copy_link_makes_a_layer_that_survives_a_change_of_base(
    builder: Builder, tmp_path: Path
) -> None:
    from etage.api import build_cache_usage

    builder.write({"app.txt": "app\n", "y.txt": "y\n"})
    dockerfile = f"""\
FROM {BASE} AS base
RUN mkdir -p /real /etc/conf && ln -s /real /linked && chmod 700 /etc/conf && echo 1 > /v

FROM base
COPY --link app.txt /etc/conf/
COPY --link --chown=alice:staff y.txt /linked/
"""
    first = builder.build(dockerfile)
    link_layers = [s.layer for s in first.steps if "--link" in s.text]
    assert all(link_layers) and len(set(link_layers)) == 2
    snapshots = build_cache_usage(root=builder.root).snapshots

    out = tmp_path / "fs"
    second = builder.build(
        dockerfile.replace("echo 1 > /v", "echo 2 > /v"), outputs=[f"type=local,dest={out}"]
    )
    # the same layers, copied and tarred once: only the RUN and two restackings are new
    assert [s.layer for s in second.steps if "--link" in s.text] == link_layers
    assert build_cache_usage(root=builder.root).snapshots == snapshots + 3
    assert (out / "v").read_text() == "2\n"
    assert (out / "etc/conf/app.txt").read_text() == "app\n"
    # BuildKit's --link rules: the layer's own parent directories (0755) win, and a
    # symlink on the destination path is not followed (the path becomes directories)
    assert (out / "etc/conf").stat().st_mode & 0o777 == 0o755
    assert (out / "linked").is_dir() and not (out / "linked").is_symlink()
    assert (out / "linked/y.txt").stat().st_uid == 1000
    assert (out / "linked/y.txt").stat().st_gid == 50
    assert not (out / "real/y.txt").exists()


def test_explain_cache_names_the_input_that_changed(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(MULTI)
    builder.write({"app.txt": "changed\n"})
    result = builder.build(MULTI, explain_cache=True)
    step = next(s for s in result.steps if s.text == "COPY app.txt ./")
    assert not step.cached
    assert "app.txt" in step.explain, step.explain


def test_oci_and_docker_outputs_are_readable_by_skopeo(builder: Builder, tmp_path: Path) -> None:
    builder.write({"app.txt": "hello\n"})
    oci = tmp_path / "image.oci.tar"
    docker = tmp_path / "image.docker.tar"
    result = builder.build(
        MULTI,
        tags=["app:2"],
        outputs=[f"type=oci,dest={oci}", f"type=docker,dest={docker}"],
    )
    del result
    for transport in (f"oci-archive:{oci}", f"docker-archive:{docker}"):
        proc = subprocess.run(
            ["skopeo", "inspect", "--config", transport],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        config = json.loads(proc.stdout)
        assert config["config"]["Cmd"] == ["cat", "/srv/out.txt"]


def test_iidfile_and_metadata_file(builder: Builder, tmp_path: Path) -> None:
    builder.write({"app.txt": "hello\n"})
    iid = tmp_path / "iid"
    meta = tmp_path / "meta.json"
    result = builder.build(MULTI, iidfile=iid, metadata_file=meta)
    assert iid.read_text() == result.digest
    data = json.loads(meta.read_text())
    assert data["containerimage.digest"] == result.digest


def test_bad_input_is_a_clear_error_and_writes_nothing(builder: Builder) -> None:
    with pytest.raises(EtageError) as info:
        builder.build(f"FROM {BASE}\nCOPY missing.txt /\n")
    assert "missing.txt" in str(info.value)
    assert mounts(builder.root) == []


def test_workdir_user_and_config_instructions(builder: Builder) -> None:
    dockerfile = f"""\
FROM {BASE}
WORKDIR /app/sub
USER alice:staff
RUN id -u > /tmp/uid && id -g > /tmp/gid && pwd > /tmp/pwd
EXPOSE 8080/tcp 53/udp
LABEL a=b "c d"=e
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD true
ENTRYPOINT ["/bin/sh", "-c"]
"""
    result = builder.build(dockerfile)
    config = result.image.image_config.config
    assert config["WorkingDir"] == "/app/sub"
    assert config["User"] == "alice:staff"
    assert config["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert config["Labels"] == {"a": "b", "c d": "e"}
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert config["Healthcheck"]["Interval"] == 5_000_000_000
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert "Cmd" not in config or config["Cmd"] is None  # ENTRYPOINT resets the base's CMD


def test_onbuild_triggers_run_when_a_later_build_starts_from_the_image(
    builder: Builder, tmp_path: Path
) -> None:
    parent = f"FROM {BASE}\nONBUILD COPY trigger.txt /from-trigger\nONBUILD RUN echo ran > /ran\n"
    builder.build(parent, tags=["localhost/parent:1"])
    builder.write({"trigger.txt": "t\n"})
    out = tmp_path / "fs"
    result = builder.build("FROM localhost/parent:1\n", outputs=[f"type=local,dest={out}"])
    assert (out / "from-trigger").read_text() == "t\n"
    assert (out / "ran").read_text() == "ran\n"
    assert "OnBuild" not in result.image.image_config.config  # triggers do not carry over


def test_independent_stages_run_in_parallel(builder: Builder) -> None:
    dockerfile = f"""\
FROM {BASE} AS a
RUN sleep 1.5 && echo a > /a
FROM {BASE} AS b
RUN sleep 1.5 && echo b > /b
FROM {BASE}
COPY --from=a /a /
COPY --from=b /b /
"""
    result = builder.build(dockerfile, jobs=2)
    assert result.duration < 2.9, result.duration
    serial = builder.build(dockerfile.replace("sleep 1.5", "sleep 1.4"), jobs=1)
    assert serial.duration >= 2.8, serial.duration


WAITS_FOR_SLOW = f"""\
FROM {BASE} AS slow
RUN sleep 1.5 && echo s > /s
FROM {BASE}
RUN echo early > /early
COPY --from=slow /s /
RUN cat /s /early > /both
"""


def _done_order(events: list[Any]) -> list[str]:
    started = {e.step: e.text for e in events if isinstance(e, StepStarted)}
    return [started[e.step] for e in events if isinstance(e, StepDone) and e.error is None]


@pytest.mark.parametrize("jobs", [None, 1])
def test_a_stage_runs_its_steps_until_a_copy_from_needs_an_unfinished_stage(
    builder: Builder, tmp_path: Path, jobs: int | None
) -> None:
    # As BuildKit: the target does not wait for `slow` to start, only its COPY --from
    # waits. With --jobs 1 the waiting stage gives its slot back (no deadlock).
    out = tmp_path / "fs"
    builder.build(WAITS_FOR_SLOW, jobs=jobs, outputs=[f"type=local,dest={out}"])
    assert (out / "both").read_text() == "s\nearly\n"
    order = _done_order(builder.events)
    assert order.index("COPY --from=slow /s /") > order.index("RUN sleep 1.5 && echo s > /s")
    if jobs is None:
        assert order.index("RUN echo early > /early") < order.index("RUN sleep 1.5 && echo s > /s")


def test_a_failing_stage_wakes_the_step_waiting_for_it(builder: Builder) -> None:
    dockerfile = WAITS_FOR_SLOW.replace("echo s > /s", "exit 3")
    started = time.monotonic()
    with pytest.raises(StepFailed) as info:
        builder.build(dockerfile)
    assert time.monotonic() - started < 20
    assert "exit code: 3" in str(info.value) and "slow" in str(info.value)
    assert not mounts(builder.root)


def test_kill_9_mid_run_leaves_nothing_running_and_a_usable_store(builder: Builder) -> None:
    marker = f"etage-kill-test-{os.getpid()}-{time.monotonic_ns()}"
    dockerfile = f"FROM {BASE}\nRUN echo a > /a\nRUN sleep 300 && echo {marker}\n"
    (builder.context / "Dockerfile").write_text(dockerfile)
    etage = Path(sys.executable).with_name("etage")
    proc = subprocess.Popen(
        [etage, "--root", builder.root, "build", "--progress", "plain", builder.context],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    with proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"RUN sleep 300" in line:
                break
        deadline = time.monotonic() + 10
        while not process_alive(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_alive(marker), "the RUN never started"
        proc.kill()
        proc.wait()
    assert process_alive(marker)  # runc's container outlives a kill -9 of etage...
    # ...until the next build, which kills it, removes its working tree and goes on
    result = builder.build(f"FROM {BASE}\nRUN echo a > /a\n")
    assert all(cached(result).values())
    assert not process_alive(marker)
    assert mounts(builder.root) == []
    assert list((builder.root / "snapshots" / "tmp").glob("*")) == []


def test_two_builds_at_once_in_one_store(builder: Builder, tmp_path: Path) -> None:
    """Two etage processes build in the same store at the same time: both succeed, the
    store verifies, nothing is left mounted, and each rebuild is fully cached."""
    etage = Path(sys.executable).with_name("etage")
    procs = []
    for name in ("one", "two"):
        ctx = tmp_path / name
        ctx.mkdir()
        (ctx / "shared.txt").write_text("shared\n")
        (ctx / "Dockerfile").write_text(
            f"FROM {BASE}\nCOPY shared.txt /\nRUN sleep 0.5 && cat /shared.txt > /s\n"
            f"RUN echo {name} > /name\n"
        )
        procs.append(
            subprocess.Popen(
                [etage, "--debug", "--root", builder.root, "build", "-q", "-t", f"app:{name}", ctx],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(e for _, e in outs)
    store = builder.store()
    try:
        for name in ("one", "two"):
            assert str(resolve_local(store, f"app:{name}").descriptor.digest) in "".join(
                out for out, _ in outs
            )
    finally:
        store.close()
    verify = subprocess.run(
        [etage, "--root", builder.root, "verify"], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert mounts(builder.root) == []
    assert list((builder.root / "snapshots" / "tmp").glob("*")) == []
    import etage.api

    for name in ("one", "two"):
        again = etage.api.build(tmp_path / name, root=builder.root, tags=[f"app:{name}"])
        assert all(cached(again).values()), cached(again)
