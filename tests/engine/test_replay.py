"""The no-op replay (etage.cache.replay): a build whose inputs have not changed since it
last ran is answered from its record, and any change to what it read sends it down the
full path, which then decides step by step what is cached.

Most tests set RACY_SECONDS to 0 so files written by the test just before the build can
be trusted without sleeping; one test keeps the real window and checks that a build of
files that changed just before it is not recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.engine.conftest import BASE, Builder, cached

import etage.api
from etage.cache import replay
from etage.oci.digest import Digest

DOCKERFILE = f"""\
FROM {BASE} AS builder
WORKDIR /src
COPY app/ ./app/
RUN cat app/*.txt > /out.txt

FROM {BASE}
COPY --from=builder /out.txt /srv/
COPY notes.txt /srv/
CMD ["cat", "/srv/out.txt"]
"""

FILES = {"app/a.txt": "a\n", "app/b.txt": "b\n", "notes.txt": "n\n", "unread.txt": "x\n"}


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "RACY_SECONDS", 0.0)


@pytest.fixture
def built(builder: Builder, no_racy_window: None) -> Builder:
    builder.write(FILES)
    first = builder.build(DOCKERFILE, tags=["app:1"])
    assert not first.replayed
    return builder


def test_a_noop_rebuild_is_replayed_with_the_same_result(
    builder: Builder, no_racy_window: None, tmp_path: Path
) -> None:
    builder.write(FILES)
    iid, meta = tmp_path / "iid", tmp_path / "meta"
    full = builder.build(DOCKERFILE, tags=["app:1"], iidfile=iid, metadata_file=meta)
    assert not full.replayed
    full_events = [type(e).__name__ for e in builder.events]
    full_iid, full_meta = iid.read_text(), json.loads(meta.read_text())
    iid.unlink()
    meta.unlink()

    again = builder.build(tags=["app:1"], iidfile=iid, metadata_file=meta)
    assert again.replayed
    assert again.digest == full.digest
    assert again.names == full.names == ("docker.io/library/app:1",)
    assert all(cached(again).values())
    assert [(s.step, s.text) for s in again.steps] == [(s.step, s.text) for s in full.steps]
    # the events a cached full build gives: the build, each step started and done
    kinds = [type(e).__name__ for e in builder.events]
    assert kinds[0] == "BuildStarted" and kinds[-2:] == ["BuildDone", "BuildSummary"]
    assert again.summary == full.summary is not None
    assert kinds.count("StepStarted") == full_events.count("StepStarted")
    assert kinds.count("StepDone") == kinds.count("StepStarted")
    assert iid.read_text() == full_iid == again.digest
    assert json.loads(meta.read_text()) == full_meta
    # the image and plan are loaded on demand, and are the real ones
    assert again.image.image_config.config["Cmd"] == ["cat", "/srv/out.txt"]
    assert again.plan.target_stage.index == 1


def test_changing_a_copied_file_is_not_replayed_and_misses_exactly_its_steps(
    built: Builder,
) -> None:
    built.write({"notes.txt": "N\n"})
    result = built.build(tags=["app:1"])
    assert not result.replayed
    hits = cached(result)
    assert hits.pop("[1] COPY notes.txt /srv/") is False
    assert all(hits.values()), hits
    assert built.build(tags=["app:1"]).replayed  # and the new state is recorded


def test_a_new_file_in_a_copied_directory_is_not_replayed(built: Builder) -> None:
    built.write({"app/c.txt": "c\n"})
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert cached(result)["[builder] COPY app/ ./app/"] is False


def test_a_removed_file_is_not_replayed(built: Builder) -> None:
    (built.context / "app/b.txt").unlink()
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert cached(result)["[builder] COPY app/ ./app/"] is False


def test_a_mode_change_is_not_replayed(built: Builder) -> None:
    (built.context / "notes.txt").chmod(0o600)
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert cached(result)["[1] COPY notes.txt /srv/"] is False


def test_a_file_the_build_never_read_does_not_prevent_the_replay(built: Builder) -> None:
    (built.context / "unread.txt").write_text("changed\n")
    assert built.build(tags=["app:1"]).replayed


def test_a_dockerignore_change_goes_through_the_full_path(built: Builder) -> None:
    (built.context / ".dockerignore").write_text("app/b.txt\n")
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert cached(result)["[builder] COPY app/ ./app/"] is False


def test_a_dockerfile_change_goes_through_the_full_path(built: Builder) -> None:
    result = built.build(DOCKERFILE.replace('CMD ["cat"', 'CMD ["head"'), tags=["app:1"])
    assert not result.replayed
    assert result.image.image_config.config["Cmd"] == ["head", "/srv/out.txt"]


def test_other_build_arguments_or_tags_are_another_request(built: Builder) -> None:
    assert not built.build(tags=["app:2"]).replayed
    assert not built.build(tags=["app:1"], build_args={"X": "1"}).replayed
    assert not built.build(tags=["app:3"], target="builder").replayed
    assert built.build(tags=["app:1"]).replayed


def test_a_retagged_base_image_is_not_replayed(built: Builder) -> None:
    other = built.build(f"FROM {BASE}\nRUN echo other > /other\n", tags=["other:1"])
    (built.context / "Dockerfile").write_text(DOCKERFILE)
    assert built.build(tags=["app:1"]).replayed
    store = built.store()
    try:
        ref = store.get_ref("other:1") or store.get_ref("docker.io/library/other:1")
        assert ref is not None
        store.set_ref(BASE, Digest.parse(other.digest), ref.media_type, ref.size)
    finally:
        store.close()
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert not any(cached(result).values())  # every stage starts from the new base
    assert result.image.layers[:2] == other.image.layers[:2]


def test_a_removed_tag_is_restored_by_the_full_path(built: Builder) -> None:
    etage.api.rmi(["app:1"], root=built.root)
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert all(cached(result).values())
    assert etage.api.inspect("app:1", root=built.root) is not None
    assert built.build(tags=["app:1"]).replayed


def test_pruning_the_build_cache_drops_the_records(built: Builder) -> None:
    assert built.build(tags=["app:1"]).replayed
    etage.api.prune_build_cache(root=built.root)
    result = built.build(tags=["app:1"])
    assert not result.replayed
    assert not any(s.cached for s in result.steps if s.text.startswith(("RUN", "COPY")))


def test_builds_that_must_run_are_never_replayed(built: Builder, tmp_path: Path) -> None:
    assert not built.build(tags=["app:1"], no_cache=True).replayed
    out = tmp_path / "out"
    assert not built.build(tags=["app:1"], outputs=[f"type=local,dest={out}"]).replayed
    assert (out / "srv/out.txt").read_text() == "a\nb\n"
    assert not built.build(tags=["app:1"], explain_cache=True).replayed


def test_files_changed_just_before_the_build_are_not_trusted(builder: Builder) -> None:
    """The real racy window: a file modified within RACY_SECONDS of the build's start may
    have been read mid-change (and timestamps are coarse), so no record is written."""
    builder.write(FILES)
    builder.build(DOCKERFILE, tags=["app:1"])
    assert not builder.build(tags=["app:1"]).replayed
    time.sleep(replay.RACY_SECONDS + 0.2)
    builder.build(tags=["app:1"])  # its inputs are now old enough: recorded
    assert builder.build(tags=["app:1"]).replayed
