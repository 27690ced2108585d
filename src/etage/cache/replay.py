"""Replaying a no-op build: when nothing a build read has changed since it last ran,
give its result again without parsing, planning, checksumming or importing the engine.

A successful build records, under the fingerprint of its request (context, Dockerfile
path, target, build args, labels, tags, named contexts, secrets' sources,
SOURCE_DATE_EPOCH): the hash of the Dockerfile and .dockerignore files, the stat of
every path of the context it read (each file and directory its COPY/ADD and bind mounts
walked, and the directories above them), the digests its base image references had,
and its result. A later identical request whose recorded inputs all still hold is
replayed: every step shows CACHED, the tags and output files are checked or rewritten.

Why a stat is enough: any change to a file's content, mode, owner or a directory's
entries moves its ctime, which no user can set back. A path whose ctime was within
RACY_SECONDS of the build's start is not trusted (the record is not written), since the
build may have read it mid-change and timestamps have coarse granularity.

What is never replayed: builds with outputs other than the store, --push, --pull,
--no-cache(-filter), --explain-cache, ADD of URLs (the remote may have changed), and
anything a build records as not replayable. The record is dropped whenever the build
cache is pruned. Stdlib only, so a replay costs little more than Python's start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

TYPE_CHECKING = False  # typing is not imported on the fast path
if TYPE_CHECKING:
    from typing import Any

# Part of every fingerprint: a record made by an older etage (other output) never answers.
VERSION = 2  # 2: the build summary and the image checks' findings
RACY_SECONDS = 2.0
SCHEMA = "CREATE TABLE IF NOT EXISTS replays (fingerprint TEXT PRIMARY KEY, doc BLOB NOT NULL)"


def request_fingerprint(
    *,
    context: str,
    dockerfile: str,
    display: str,
    target: str | None,
    build_args: dict[str, str],
    tags: list[str],
    outputs: list[list[Any]],
    labels: dict[str, str],
    platform: str | None,
    secrets: list[list[str | None]],
    contexts: list[list[str]],
    epoch: int | None,
    insecure: list[str],
) -> str:
    """The key of a build request (the API and the CLI's fast path both call this, so
    the same request has the same key however it came). `context` and `dockerfile` are
    real paths; `secrets` are [id, src, env]."""
    return fingerprint(
        {
            "context": context,
            "dockerfile": dockerfile,
            "display": display,
            "target": target,
            "build_args": build_args,
            "tags": tags,
            "outputs": outputs,
            "labels": labels,
            "platform": platform,
            "secrets": secrets,
            "secret_env": [env for _, _, env in secrets if env and env in os.environ],
            "contexts": contexts,
            "epoch": epoch,
            "epoch_env": os.environ.get("SOURCE_DATE_EPOCH"),
            "insecure": insecure,
        }
    )


def input_files(context: str, dockerfile: str, data: bytes) -> list[tuple[str, str | None]]:
    """The files a request reads before any step: the Dockerfile (`data` are its bytes)
    and both places of a .dockerignore, with their hashes (None: absent)."""
    ignores = [dockerfile + ".dockerignore", os.path.join(context, ".dockerignore")]
    return [(dockerfile, hashlib.sha256(data).hexdigest())] + [(f, file_hash(f)) for f in ignores]


def fingerprint(request: dict[str, Any]) -> str:
    """The key of a request: canonical JSON (sorted keys), so equal requests are equal."""
    doc = json.dumps({"v": VERSION, **request}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def stat_signature(path: str) -> list[int] | None:
    """What must be equal for `path` to be unchanged (None: it did not exist)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [
        st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size,
        st.st_mtime_ns, st.st_ctime_ns,
    ]  # fmt: skip


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def witness(paths: set[str], since_ns: int) -> list[list[Any]] | None:
    """Stat signatures of `paths`, or None if one changed too recently to be trusted."""
    out: list[list[Any]] = []
    limit = since_ns - int(RACY_SECONDS * 1e9)
    for path in sorted(paths):
        sig = stat_signature(path)
        if sig is not None and max(sig[6], sig[7]) >= limit:
            return None
        out.append([path, sig])
    return out


def _connect(root: str, name: str) -> sqlite3.Connection | None:
    path = os.path.join(root, name)
    if not os.path.exists(path):
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None


def lookup(root: str, key: str) -> dict[str, Any] | None:
    """The record for `key` if every input it names is unchanged, else None."""
    db = _connect(root, "cache.db")
    if db is None:
        return None
    try:
        rows = db.execute("SELECT doc FROM replays WHERE fingerprint=?", (key,)).fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    if not rows:
        return None
    doc: dict[str, Any] = json.loads(rows[0][0])
    if not _inputs_hold(doc) or not _store_holds(root, doc):
        return None
    return doc


def _inputs_hold(doc: dict[str, Any]) -> bool:
    for path, digest in doc["files"]:
        if file_hash(path) != digest:
            return False
    for path, sig in doc["witness"]:
        if stat_signature(path) != sig:
            return False
    return all(os.path.exists(path) for path in doc.get("secret_files", []))


def _store_holds(root: str, doc: dict[str, Any]) -> bool:
    """The image is still in the store, its tags point at it, the bases are unchanged."""
    blob = os.path.join(root, "blobs", *doc["digest"].split(":", 1))
    if not os.path.exists(blob):
        return False
    db = _connect(root, "refs.db")
    if db is None:
        return False
    try:
        wanted = dict.fromkeys(doc["names"], doc["digest"]) | doc["bases"]
        for name, digest in wanted.items():
            row = db.execute("SELECT digest FROM refs WHERE name=?", (name,)).fetchone()
            if row is None or row[0] != digest:
                return False
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return True


def save(db: sqlite3.Connection, key: str, doc: dict[str, Any]) -> None:
    """Write a record (through the build cache index's connection)."""
    db.execute(
        "INSERT OR REPLACE INTO replays(fingerprint, doc) VALUES (?,?)",
        (key, json.dumps(doc, separators=(",", ":"))),
    )


def forget_all(db: sqlite3.Connection) -> None:
    """Drop every record: called when cached results are removed."""
    db.execute("DELETE FROM replays")


LAST_BUILD = "last-build"  # under the store root: the manifest digest of the last build


def note_last_build(root: str, digest: str) -> None:
    """Remember the last image built in the store at `root` (for `etage report --last`)."""
    path = os.path.join(root, LAST_BUILD)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(digest + "\n")
    os.replace(tmp, path)
