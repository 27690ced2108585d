"""Opening etage's SQLite databases (refs, snapshots, build cache, stat cache) in WAL
mode, safely when several etage processes open a new store at the same moment."""

from __future__ import annotations

import os
import sqlite3
import time


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A connection in autocommit mode that the threads of a process share (each caller
    keeps its own lock), in WAL mode, waiting up to 30 s for other writers."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    use_wal(db)
    return db


def use_wal(db: sqlite3.Connection, *, timeout: float = 30.0) -> None:
    """Switch `db` to write-ahead logging. On a new file this takes an exclusive lock for
    which SQLite does not call its busy handler, so a second process opening the same
    new database gets "database is locked" at once: wait and retry instead."""
    delay, deadline = 0.002, time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds a lock (not a damaged database)."""
    text = str(exc)
    return "locked" in text or "busy" in text
