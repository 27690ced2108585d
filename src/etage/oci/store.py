"""The local content store: content-addressed blobs and named references.

    <root>/blobs/sha256/<hex>   blobs, immutable, named by their digest
    <root>/ingest/              blobs being written (temp files, resumable partials)
    <root>/refs.db              references: name:tag -> descriptor (SQLite, WAL)
    <root>/gc.lock              shared by writers, exclusive for garbage collection

Nothing is lost or corrupted by a crash or a kill -9 at any moment: a blob is written
to a temp file, verified against its digest, fsynced, then renamed into place (rename
is atomic), so readers only ever see whole blobs; references live in SQLite. A partial
download keeps its bytes under ingest/ and the next writer of that digest resumes it.
Several processes may write the same blob at once: each writes its own temp file (or
waits for the one writing the resumable partial) and the renames are idempotent.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etage.errors import EtageError
from etage.oci.digest import Digest
from etage.oci.root import default_root
from etage.oci.sqlite_wal import connect

CHUNK = 1 << 20


class StoreError(EtageError):
    pass


class BlobNotFound(StoreError):
    pass


class DigestMismatch(StoreError):
    pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Ref:
    name: str  # normalised reference, e.g. docker.io/library/node:18
    digest: Digest
    media_type: str
    size: int
    updated: float


class Ingest:
    """A blob being written. Use as a context manager; call commit() to publish it.

    With an expected digest the temp file is the resumable partial for that digest:
    `offset` says how many bytes a previous, interrupted writer left (already hashed),
    and `restart()` drops them (when a server cannot resume).
    """

    def __init__(self, store: ContentStore, expected: Digest | None, size: int | None) -> None:
        self.store = store
        self.expected = expected
        self.expected_size = size
        self.resumable = expected is not None
        name = (
            f"{expected.algorithm}-{expected.hex}.partial"
            if expected
            else f"tmp-{uuid.uuid4().hex}"
        )
        self.path = store.ingest_dir / name
        self.fd = self._open_locked()
        self.file: BinaryIO = os.fdopen(self.fd, "r+b", buffering=0)
        self.hash = hashlib.new(expected.algorithm if expected else "sha256")
        self.offset = 0
        self.done = False
        if self.resumable:
            self._rehash_existing()

    def _open_locked(self) -> int:
        """Open and lock the temp file. Writers of the same digest queue on the lock
        (which dies with its process); a writer that waited may find the file renamed
        into blobs/ by the one before it: then it starts again on a fresh file, never
        writing into a published blob."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _rehash_existing(self) -> None:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            self.hash.update(chunk)
            self.offset += len(chunk)

    @property
    def already_present(self) -> bool:
        """Another writer published this blob while we waited for the lock."""
        return self.expected is not None and self.store.has(self.expected)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.file.write(data)
        self.hash.update(data)
        self.offset += len(data)
        return len(data)

    def flush(self) -> None:
        pass  # unbuffered: every write went to the file; commit() fsyncs

    def writable(self) -> bool:
        return True

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate(0)
        self.hash = hashlib.new(self.expected.algorithm if self.expected else "sha256")
        self.offset = 0

    def commit(self) -> Digest:
        digest = Digest(self.hash.name, self.hash.hexdigest())
        if self.expected is not None and digest != self.expected:
            # Bad content is never published, nor kept for resuming.
            self.restart()
            raise DigestMismatch(
                f"digest mismatch: expected {self.expected}, got {digest} ({self.offset} bytes)",
                hint="the source served other content than its manifest names; nothing was stored",
            )
        if self.expected_size is not None and self.offset != self.expected_size:
            self.restart()
            raise DigestMismatch(
                f"size mismatch for {digest}: "
                f"expected {self.expected_size} bytes, got {self.offset}"
            )
        self.file.flush()
        os.fsync(self.fd)
        target = self.store.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, target)
        _fsync_dir(target.parent)
        self.done = True
        return digest

    def close(self) -> None:
        if not self.done and not self.resumable:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            self.file.close()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ContentStore:
    def __init__(self, root: Path | str | None = None) -> None:
        # Absolute: paths under the root are handed to runc, which resolves relative
        # ones against its bundle directory.
        self.root = Path(os.path.abspath(root)) if root is not None else default_root()
        self.blobs_dir = self.root / "blobs"
        self.ingest_dir = self.root / "ingest"
        try:
            (self.blobs_dir / "sha256").mkdir(parents=True, exist_ok=True)
            self.ingest_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store at {self.root}: {exc.strerror}",
                hint="choose another place with --root or ETAGE_ROOT",
            ) from None
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()

    # -- blobs ---------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        return self.blobs_dir / digest.algorithm / digest.hex

    def has(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store") from None

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store") from None

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def ingest(self, expected: Digest | None = None, size: int | None = None) -> Ingest:
        return Ingest(self, expected, size)

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = Digest.of(data)
        if expected is not None and expected != digest:
            raise DigestMismatch(f"digest mismatch: expected {expected}, got {digest}")
        if self.has(digest):
            return digest
        with self.ingest() as w:
            w.write(data)
            return w.commit()

    def write_stream(
        self, source: BinaryIO, expected: Digest | None = None, size: int | None = None
    ) -> Digest:
        if expected is not None and self.has(expected):
            return expected
        with self.ingest(expected, size) as w:
            if w.already_present and expected is not None:
                return expected
            w.restart()
            while chunk := source.read(CHUNK):
                w.write(chunk)
            return w.commit()

    def delete_blob(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(digest))

    def blobs(self) -> Iterator[tuple[Digest, int]]:
        for alg_dir in sorted(self.blobs_dir.iterdir()):
            if not alg_dir.is_dir():
                continue
            with os.scandir(alg_dir) as it:
                for entry in it:
                    if entry.is_file():
                        yield Digest(alg_dir.name, entry.name), entry.stat().st_size

    def verify_blob(self, digest: Digest) -> bool:
        h = hashlib.new(digest.algorithm)
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest() == digest.hex

    # -- references ----------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            # One connection shared by the threads of a pull, behind a lock.
            db = connect(self.root / "refs.db")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS refs (name TEXT PRIMARY KEY, digest TEXT NOT NULL,"
                " media_type TEXT NOT NULL, size INTEGER NOT NULL, updated REAL NOT NULL)"
            )
            # A layer blob and its other compressions (compressed once, when an output needs it).
            db.execute(
                "CREATE TABLE IF NOT EXISTS variants (source TEXT NOT NULL,"
                " compression TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
                " PRIMARY KEY (source, compression))"
            )
            # Where blobs came from, so a push can ask the registry to mount them.
            db.execute(
                "CREATE TABLE IF NOT EXISTS sources (digest TEXT NOT NULL, registry TEXT NOT NULL,"
                " repository TEXT NOT NULL, PRIMARY KEY (digest, registry, repository))"
            )
            self._db = db
        return self._db

    def _sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run a statement under the lock; rows for queries, [(rowcount,)] otherwise."""
        with self._db_lock:
            cur = self.db.execute(sql, params)
            if cur.description is None:
                return [(cur.rowcount,)]
            return cur.fetchall()

    def set_ref(self, name: str, digest: Digest, media_type: str, size: int) -> None:
        if not self.has(digest):
            raise BlobNotFound(f"cannot tag {name}: {digest} is not in the store")
        self._sql(
            "INSERT INTO refs(name, digest, media_type, size, updated) VALUES (?,?,?,?,?)"
            " ON CONFLICT(name) DO UPDATE SET digest=excluded.digest,"
            " media_type=excluded.media_type, size=excluded.size, updated=excluded.updated",
            (name, str(digest), media_type, size, time.time()),
        )

    def get_ref(self, name: str) -> Ref | None:
        rows = self._sql(
            "SELECT name, digest, media_type, size, updated FROM refs WHERE name=?", (name,)
        )
        return _ref(rows[0]) if rows else None

    def delete_ref(self, name: str) -> bool:
        return self._sql("DELETE FROM refs WHERE name=?", (name,))[0][0] > 0  # type: ignore[operator]

    def refs(self) -> list[Ref]:
        rows = self._sql("SELECT name, digest, media_type, size, updated FROM refs ORDER BY name")
        return [_ref(r) for r in rows]

    def remember_variant(self, source: Digest, compression: str, digest: Digest, size: int) -> None:
        self._sql(
            "INSERT OR REPLACE INTO variants(source, compression, digest, size) VALUES (?,?,?,?)",
            (str(source), compression, str(digest), size),
        )

    def variant(self, source: Digest, compression: str) -> tuple[Digest, int] | None:
        rows = self._sql(
            "SELECT digest, size FROM variants WHERE source=? AND compression=?",
            (str(source), compression),
        )
        if not rows:
            return None
        digest = Digest.parse(str(rows[0][0]))
        if not self.has(digest):
            return None
        size = rows[0][1]
        assert isinstance(size, int)
        return digest, size

    def add_source(self, digest: Digest, registry: str, repository: str) -> None:
        self._sql(
            "INSERT OR IGNORE INTO sources(digest, registry, repository) VALUES (?,?,?)",
            (str(digest), registry, repository),
        )

    def sources(self, digest: Digest) -> list[tuple[str, str]]:
        rows = self._sql(
            "SELECT registry, repository FROM sources WHERE digest=? ORDER BY registry, repository",
            (str(digest),),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- garbage collection ----------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[None]:
        """Held while writing an image: garbage collection waits for it to end."""
        with self._gc_lock(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held while removing what writers may use: waits for every lease to end."""
        with self._gc_lock(fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def _gc_lock(self, mode: int) -> Iterator[None]:
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def stale_ingests(self) -> list[Path]:
        """Temp and partial files no live writer holds (left by a crash)."""
        out = []
        for path in sorted(self.ingest_dir.iterdir()):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # in use
                raise
            finally:
                os.close(fd)
            out.append(path)
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _ref(row: tuple[object, ...]) -> Ref:
    name, digest, media_type, size, updated = row
    assert isinstance(size, int)
    assert isinstance(updated, float)
    return Ref(str(name), Digest.parse(str(digest)), str(media_type), size, updated)
