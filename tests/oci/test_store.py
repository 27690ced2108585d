"""The content store: atomic, verified, concurrent and crash-safe, tested with real
processes killed mid-write."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from etage.oci.digest import Digest
from etage.oci.gc import prune, reachable, usage
from etage.oci.model import Descriptor, ImageConfig, Manifest
from etage.oci.store import BlobNotFound, ContentStore, DigestMismatch, default_root

ROOT = Path(__file__).resolve().parents[2]


def test_write_read_and_verify(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    d = store.write_bytes(b"hello")
    assert d == Digest.of(b"hello")
    assert store.read(d) == b"hello" and store.has(d) and store.size(d) == 5
    assert store.verify_blob(d)
    assert store.write_bytes(b"hello") == d  # idempotent
    with pytest.raises(BlobNotFound):
        store.read(Digest.of(b"nope"))


def test_mismatch_stores_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    wrong = Digest.of(b"something else")
    with store.ingest(wrong, 5) as w:
        w.write(b"hello")
        with pytest.raises(DigestMismatch, match="digest mismatch"):
            w.commit()
    assert not store.has(wrong) and not store.has(Digest.of(b"hello"))
    assert [d for d, _ in store.blobs()] == []
    with store.ingest(Digest.of(b"hello"), 99) as w:
        w.write(b"hello")
        with pytest.raises(DigestMismatch, match="size mismatch"):
            w.commit()
    assert list(store.blobs()) == []


def test_resumable_ingest_keeps_its_bytes(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(300_000)
    digest = Digest.of(data)
    with store.ingest(digest, len(data)) as w:
        w.write(data[:100_000])  # interrupted: no commit
    with store.ingest(digest, len(data)) as w:
        assert w.offset == 100_000
        w.write(data[100_000:])
        assert w.commit() == digest
    assert store.read(digest) == data
    assert list(store.ingest_dir.iterdir()) == []


def test_refs(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    d = store.write_bytes(b"{}")
    store.set_ref("docker.io/library/x:1", d, "m", 2)
    store.set_ref("docker.io/library/x:2", d, "m", 2)
    assert [r.name for r in store.refs()] == ["docker.io/library/x:1", "docker.io/library/x:2"]
    assert store.get_ref("docker.io/library/x:1").digest == d  # type: ignore[union-attr]
    assert store.delete_ref("docker.io/library/x:1") and not store.delete_ref("nope")
    with pytest.raises(BlobNotFound):
        store.set_ref("y:1", Digest.of(b"absent"), "m", 1)


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETAGE_ROOT", str(tmp_path / "r"))
    assert default_root() == tmp_path / "r"
    monkeypatch.delenv("ETAGE_ROOT")
    assert default_root() == (Path("/var/lib/etage") if os.geteuid() == 0 else default_root())


def _image(store: ContentStore, layers: int = 2) -> Digest:
    layer_descs = []
    for i in range(layers):
        data = os.urandom(1000 + i)
        layer_descs.append(
            Descriptor("application/vnd.oci.image.layer.v1.tar", store.write_bytes(data), len(data))
        )
    cfg = ImageConfig("amd64", "linux", diff_ids=tuple(d.digest for d in layer_descs)).to_bytes()
    manifest = Manifest(
        Descriptor("application/vnd.oci.image.config.v1+json", store.write_bytes(cfg), len(cfg)),
        tuple(layer_descs),
    )
    return store.write_bytes(manifest.to_bytes())


def test_gc_keeps_what_refs_reach(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    kept = _image(store)
    store.set_ref("a:1", kept, "application/vnd.oci.image.manifest.v1+json", store.size(kept))
    dropped = _image(store, layers=3)
    (store.ingest_dir / "tmp-stale").write_bytes(b"x" * 10)
    before = usage(store)
    assert before.blobs == 9 and before.unreachable == 5 and before.ingest_files == 1
    dry = prune(store, dry_run=True)
    assert len(dry.removed) == 5 and store.has(dropped)
    result = prune(store)
    assert len(result.removed) == 5 and result.stale_ingests == 1
    assert not store.has(dropped) and store.has(kept)
    assert reachable(store).all == {d for d, _ in store.blobs()}


WRITER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {src!r})
    from etage.oci.store import ContentStore
    from etage.oci.digest import Digest
    store = ContentStore(sys.argv[1])
    data = open(sys.argv[2], "rb").read()
    expected = Digest.parse(sys.argv[3]) if sys.argv[3] != "-" else None
    with store.ingest(expected, len(data)) as w:
        w.restart() if expected is None else None
        pos = w.offset
        print("ready", flush=True)
        while pos < len(data):
            w.write(data[pos:pos + 65536]); pos += 65536
            time.sleep(0.002)
        w.commit()
    store.set_ref("k:1", Digest.of(data), "x", len(data))
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("resumable", [True, False])
def test_kill_9_at_any_moment_leaves_a_usable_store(tmp_path: Path, resumable: bool) -> None:
    store_root = tmp_path / "store"
    payload = tmp_path / "payload"
    data = os.urandom(4 * 1024 * 1024)
    payload.write_bytes(data)
    digest = Digest.of(data)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(src=str(ROOT / "src")))
    arg = str(digest) if resumable else "-"
    for delay in (0.01, 0.05, 0.1, 0.15):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(store_root), str(payload), arg],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        store = ContentStore(store_root)
        # Readers never see a partial blob: whatever is in blobs/ verifies.
        for d, _ in store.blobs():
            assert store.verify_blob(d)
        store.close()
    # The next writer completes (resuming the partial when the digest is known).
    out = subprocess.run(
        [sys.executable, str(script), str(store_root), str(payload), arg],
        capture_output=True,
        check=True,
    )
    assert out.stdout.endswith(b"done\n")
    store = ContentStore(store_root)
    assert store.read(digest) == data and store.get_ref("k:1") is not None
    prune(store)  # stale temp files from the killed writers go away; the referenced blob stays
    assert hashlib.sha256(store.read(digest)).hexdigest() == digest.hex
    assert list(store.ingest_dir.iterdir()) == []


def test_concurrent_writers_of_the_same_blob(tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    data = os.urandom(2 * 1024 * 1024)
    payload.write_bytes(data)
    digest = Digest.of(data)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(src=str(ROOT / "src")))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "store"), str(payload), arg],
            stdout=subprocess.PIPE,
        )
        for arg in (str(digest), str(digest), "-", "-")
    ]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and out.endswith(b"done\n")
    store = ContentStore(tmp_path / "store")
    assert store.read(digest) == data
    assert [d for d, _ in store.blobs()] == [digest]
    assert list(store.ingest_dir.iterdir()) == []
