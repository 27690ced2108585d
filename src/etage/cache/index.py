"""The build cache index: cache key -> committed snapshot, in SQLite under the store.

    entries  key -> snapshot, the op and its inputs (to explain later misses)
    slots    a step's place (Dockerfile, stage, position) -> the last key it had, so a
             miss can be compared with what the previous build of that step used
    replays  no-op build records (see etage.cache.replay), dropped with any entry

The snapshots themselves live in the snapshot store; an entry whose snapshot is gone
is a miss.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from etage.cache import replay
from etage.cache.keys import CacheKey
from etage.oci.sqlite_wal import connect


class CacheIndex:
    def __init__(self, root: Path) -> None:
        self.path = root / "cache.db"
        self._lock = threading.Lock()
        db = connect(self.path)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, snapshot TEXT NOT NULL,"
            " op TEXT NOT NULL, parent TEXT, inputs TEXT NOT NULL, created REAL NOT NULL,"
            " used REAL NOT NULL)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS slots (slot TEXT PRIMARY KEY, key TEXT NOT NULL)")
        # A committed snapshot exported as an uncompressed layer blob (per SOURCE_DATE_EPOCH).
        db.execute(
            "CREATE TABLE IF NOT EXISTS layers (snapshot TEXT NOT NULL, epoch TEXT NOT NULL,"
            " digest TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (snapshot, epoch))"
        )
        # What a COPY/ADD checksum covered (path -> type, mode, content), for explanations.
        db.execute(
            "CREATE TABLE IF NOT EXISTS checksums (digest TEXT PRIMARY KEY, manifest BLOB NOT NULL)"
        )
        # What sources of a (never changing) snapshot sum to, so they are hashed once.
        db.execute(
            "CREATE TABLE IF NOT EXISTS source_sums (snapshot TEXT NOT NULL, spec TEXT NOT NULL,"
            " digest TEXT NOT NULL, PRIMARY KEY (snapshot, spec))"
        )
        # What etage.insight computed of a (never changing) snapshot: its bytes per path,
        # its listing...; kind names the fact.
        db.execute(
            "CREATE TABLE IF NOT EXISTS snapshot_facts (snapshot TEXT NOT NULL, kind TEXT NOT NULL,"
            " data BLOB NOT NULL, PRIMARY KEY (snapshot, kind))"
        )
        # The summary of the build that made an image (by manifest digest).
        # Not build cache: kept by `prune --build-cache`, it describes images, not steps.
        db.execute(
            "CREATE TABLE IF NOT EXISTS image_summaries (image TEXT PRIMARY KEY,"
            " summary BLOB NOT NULL)"
        )
        db.execute(replay.SCHEMA)
        self.db = db

    def _q(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def lookup(self, key: CacheKey) -> str | None:
        rows = self._q("SELECT snapshot FROM entries WHERE key=?", (key.digest,))
        if not rows:
            return None
        self._q("UPDATE entries SET used=? WHERE key=?", (time.time(), key.digest))
        return str(rows[0][0])

    def record(self, key: CacheKey, snapshot: str) -> None:
        now = time.time()
        self._q(
            "INSERT INTO entries(key, snapshot, op, parent, inputs, created, used)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET snapshot=excluded.snapshot,"
            " used=excluded.used",
            (key.digest, snapshot, key.op, key.parent, json.dumps(key.inputs), now, now),
        )

    def forget(self, key: CacheKey) -> None:
        with self._lock:
            self.db.execute("DELETE FROM entries WHERE key=?", (key.digest,))
            replay.forget_all(self.db)

    def save_replay(self, key: str, doc: dict[str, Any]) -> None:
        with self._lock:
            replay.save(self.db, key, doc)

    def remember_slot(self, slot: str, key: CacheKey) -> None:
        self._q(
            "INSERT INTO slots(slot, key) VALUES (?,?)"
            " ON CONFLICT(slot) DO UPDATE SET key=excluded.key",
            (slot, key.digest),
        )

    def previous(self, slot: str) -> tuple[dict[str, Any], str | None] | None:
        """The op/inputs and parent the step at `slot` had last time, if known."""
        rows = self._q(
            "SELECT e.op, e.inputs, e.parent FROM slots s JOIN entries e ON e.key = s.key"
            " WHERE s.slot=?",
            (slot,),
        )
        if not rows:
            return None
        op, inputs, parent = rows[0]
        return {"op": op, "inputs": json.loads(inputs)}, parent

    def knows_checksum(self, digest: str) -> bool:
        return bool(self._q("SELECT 1 FROM checksums WHERE digest=?", (digest,)))

    def remember_checksum(self, digest: str, manifest: dict[str, str]) -> None:
        data = zlib.compress(json.dumps(manifest, separators=(",", ":")).encode())
        self._q("INSERT OR IGNORE INTO checksums(digest, manifest) VALUES (?,?)", (digest, data))

    def checksum_manifest(self, digest: str) -> dict[str, str] | None:
        rows = self._q("SELECT manifest FROM checksums WHERE digest=?", (digest,))
        if not rows:
            return None
        value: dict[str, str] = json.loads(zlib.decompress(rows[0][0]))
        return value

    def created(self, key: CacheKey) -> float | None:
        rows = self._q("SELECT created FROM entries WHERE key=?", (key.digest,))
        return float(rows[0][0]) if rows else None

    def layer(self, snapshot: str, epoch: int | None) -> tuple[str, int] | None:
        rows = self._q(
            "SELECT digest, size FROM layers WHERE snapshot=? AND epoch=?", (snapshot, str(epoch))
        )
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def remember_layer(self, snapshot: str, epoch: int | None, digest: str, size: int) -> None:
        self._q(
            "INSERT OR REPLACE INTO layers(snapshot, epoch, digest, size) VALUES (?,?,?,?)",
            (snapshot, str(epoch), digest, size),
        )

    def snapshots_of_layer(self, digest: str) -> list[str]:
        """The snapshots exported as the layer blob `digest`."""
        return [str(r[0]) for r in self._q("SELECT snapshot FROM layers WHERE digest=?", (digest,))]

    def layer_digests(self) -> set[str]:
        return {str(r[0]) for r in self._q("SELECT digest FROM layers")}

    def snapshots(self) -> set[str]:
        return {str(r[0]) for r in self._q("SELECT snapshot FROM entries")}

    def drop_missing(self, alive: set[str]) -> int:
        gone = [s for s in self.snapshots() if s not in alive]
        for s in gone:
            self._q("DELETE FROM entries WHERE snapshot=?", (s,))
        if gone:
            with self._lock:
                replay.forget_all(self.db)
        return len(gone)

    def source_sum(self, snapshot: str, spec: str) -> str | None:
        rows = self._q(
            "SELECT digest FROM source_sums WHERE snapshot=? AND spec=?", (snapshot, spec)
        )
        return str(rows[0][0]) if rows else None

    def remember_source_sum(self, snapshot: str, spec: str, digest: str) -> None:
        self._q(
            "INSERT OR REPLACE INTO source_sums(snapshot, spec, digest) VALUES (?,?,?)",
            (snapshot, spec, digest),
        )

    def count_entries(self) -> int:
        return int(self._q("SELECT COUNT(*) FROM entries")[0][0])

    def snapshot_fact(self, snapshot: str, kind: str) -> Any:
        rows = self._q(
            "SELECT data FROM snapshot_facts WHERE snapshot=? AND kind=?", (snapshot, kind)
        )
        return json.loads(zlib.decompress(rows[0][0])) if rows else None

    def remember_snapshot_fact(self, snapshot: str, kind: str, value: Any) -> None:
        data = zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)
        self._q(
            "INSERT OR REPLACE INTO snapshot_facts(snapshot, kind, data) VALUES (?,?,?)",
            (snapshot, kind, data),
        )

    def remember_summary(self, image: str, summary: dict[str, Any]) -> None:
        data = zlib.compress(json.dumps(summary, separators=(",", ":")).encode())
        self._q(
            "INSERT OR REPLACE INTO image_summaries(image, summary) VALUES (?,?)", (image, data)
        )

    def summary(self, image: str) -> dict[str, Any] | None:
        """The summary of the build that made `image`, if etage built it here."""
        rows = self._q("SELECT summary FROM image_summaries WHERE image=?", (image,))
        if not rows:
            return None
        value: dict[str, Any] = json.loads(zlib.decompress(rows[0][0]))
        return value

    def clear(self) -> None:
        """Forget every cached step (the build cache is being removed)."""
        with self._lock:
            tables = ("entries", "slots", "layers", "checksums", "source_sums", "snapshot_facts")
            for table in (*tables, "replays"):
                self.db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self._lock:
            self.db.close()
