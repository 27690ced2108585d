"""A persistent cache of file content hashes, keyed by what `lstat` says of the file.

A file whose path, size, mtime, ctime, inode and device are all unchanged since it was
hashed has the same content: a no-op rebuild re-reads nothing it can stat. ctime moves on
every content, mode, owner or xattr change and cannot be set by a program, which is what
makes the key trustworthy. A file changed within the last two seconds before it was hashed
is not stored ("racily clean": a second change in the same timestamp tick would not show
in its stat).

Rows live in a SQLite file (WAL journal, several processes may share it); a build loads
the rows under a directory once (`preload`), answers from memory, and writes new rows in
one transaction (`flush`). A damaged database file is moved aside and started afresh: the
cache is only an optimization. All methods are thread-safe.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
from pathlib import Path

from etage.oci.sqlite_wal import is_busy, use_wal

__all__ = ["HASH_HEX", "KEY", "RACY_NS", "StatCache", "StatKey", "now_ns", "stat_key"]

StatKey = bytes  # size, mtime_ns, ctime_ns, inode, device, packed (see `stat_key`)
RACY_NS = 2_000_000_000
KEY = struct.Struct("<QqqQQ")
HASH_HEX = 64  # the content hash (sha256, hex) starts every value; xattrs' follows
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files_v1 (
    path BLOB PRIMARY KEY,
    stat BLOB NOT NULL,
    hash BLOB NOT NULL
) WITHOUT ROWID
"""


def stat_key(st: os.stat_result) -> StatKey:
    return KEY.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class StatCache:
    """File hashes by (path, size, mtime_ns, ctime_ns, inode, dev); `path=None`: in memory."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, racy_ns: int = RACY_NS
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.racy_ns = racy_ns  # files changed this recently before hashing are not kept
        self._lock = threading.Lock()
        self._rows: dict[bytes, tuple[StatKey, bytes]] = {}
        self._pending: dict[bytes, tuple[StatKey, bytes]] = {}
        self._loaded: set[bytes] = set()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = self._open(self.path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, timeout=30, check_same_thread=False)
                use_wal(db)
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(_SCHEMA)
                db.commit()
                return db
            except sqlite3.DatabaseError as exc:
                if attempt or is_busy(exc):
                    return None  # busy for 30 s: build without the stat cache
                # a damaged file: keep it for inspection, start a new one
                for suffix in ("", "-wal", "-shm"):
                    damaged = Path(f"{path}{suffix}")
                    if damaged.exists():
                        os.replace(damaged, f"{path}{suffix}.damaged")
            except OSError:
                return None
        return None  # pragma: no cover

    def preload(self, prefix: str | bytes) -> None:
        """Load the rows of every file below the directory `prefix` (an absolute path)."""
        key = os.fsencode(prefix).rstrip(b"/") + b"/"
        with self._lock:
            if self._db is None or any(key.startswith(done) for done in self._loaded):
                return
            upper = key[:-1] + b"0"  # "/" + 1: every path that starts with key sorts below
            try:
                rows = self._db.execute(
                    "SELECT path, stat, hash FROM files_v1 WHERE path >= ? AND path < ?",
                    (key, upper),
                ).fetchall()
            except sqlite3.DatabaseError:
                return
            self._loaded.add(key)
            loaded = self._rows
            for path, packed, value in rows:
                if path not in loaded:
                    loaded[path] = (packed, value)

    @property
    def rows(self) -> dict[bytes, tuple[StatKey, bytes]]:
        """path -> (stat key, content hash + xattrs hash): read-only, for fast lookups."""
        return self._rows

    def get(self, path: bytes, key: StatKey) -> tuple[bytes, bytes] | None:
        """(content hash, xattrs hash) of the file at `path` if its stat is still `key`."""
        row = self._rows.get(path)
        if row is None or row[0] != key:
            return None
        return row[1][:HASH_HEX], row[1][HASH_HEX:]

    def put(
        self, path: bytes, key: StatKey, content: bytes, xattrs: bytes, started_ns: int
    ) -> None:
        """Remember a file hashed at `started_ns` (ignored if it changed just before)."""
        _, mtime, ctime, _, _ = KEY.unpack(key)
        if max(mtime, ctime) >= started_ns - self.racy_ns:
            return
        if len(content) != HASH_HEX:
            raise ValueError("a content hash is 64 hex digits")
        row = (key, content + xattrs)
        with self._lock:
            self._rows[path] = row
            self._pending[path] = row

    def flush(self) -> None:
        """Write the rows added since the last flush."""
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, {}
            if self._db is None:
                return
            try:
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO files_v1 (path, stat, hash) VALUES (?, ?, ?)",
                        [(p, k, v) for p, (k, v) in pending.items()],
                    )
            except sqlite3.DatabaseError:
                pass  # an optimization only: the next build hashes these files again

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now_ns() -> int:
    return time.time_ns()
