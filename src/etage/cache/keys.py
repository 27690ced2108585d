"""Cache keys: versioned data that explain themselves.

A key is the sha256 of the canonical JSON of {version, op, parent key, named inputs}.
JSON with named fields makes ambiguous concatenations impossible ("ab"+"c" vs "a"+"bc"
are different documents), and keeping the inputs lets `--explain-cache` say which one
changed. Bump KEY_VERSION whenever the meaning of an input changes: old entries then
simply never match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etage.oci.canonical import canonical_json

KEY_VERSION = 1


@dataclass(frozen=True, slots=True)
class CacheKey:
    digest: str  # hex
    op: str
    parent: str | None
    inputs: dict[str, Any]

    @property
    def short(self) -> str:
        return self.digest[:12]

    def to_json(self) -> str:
        return json.dumps({"op": self.op, "parent": self.parent, "inputs": self.inputs})


def make_key(op: str, parent: CacheKey | None, inputs: dict[str, Any]) -> CacheKey:
    doc = {
        "v": KEY_VERSION,
        "op": op,
        "parent": parent.digest if parent else None,
        "inputs": inputs,
    }
    digest = hashlib.sha256(canonical_json(doc)).hexdigest()
    return CacheKey(digest, op, parent.digest if parent else None, inputs)


def explain_difference(
    old: dict[str, Any] | None,
    new: CacheKey,
    old_parent: str | None,
    manifests: Callable[[str], dict[str, str] | None] | None = None,
) -> str:
    """Why `new` missed, compared with the last key recorded for the same step.
    `manifests` finds what a content checksum covered, to name the files that changed."""
    if old is None:
        return "no earlier build of this step"
    if old.get("op") != new.op:
        return f"the instruction changed ({old.get('op')} -> {new.op})"
    if old_parent != new.parent:
        return "an earlier step changed (its result is different)"
    before = old.get("inputs") or {}
    changed = [
        k for k in sorted(set(before) | set(new.inputs)) if before.get(k) != new.inputs.get(k)
    ]
    if not changed:
        return "the cached result is gone (pruned)"
    parts = []
    for k in changed:
        a, b = before.get(k), new.inputs.get(k)
        if k == "checksum" and manifests is not None and isinstance(a, str) and isinstance(b, str):
            files = _changed_files(manifests(a), manifests(b))
            if files:
                parts.append(files)
                continue
        if (
            isinstance(a, str | int)
            and isinstance(b, str | int)
            and len(str(a)) + len(str(b)) < 120
        ):
            parts.append(f"{k}: {a!r} -> {b!r}")
        else:
            parts.append(f"{k} changed")
    return "; ".join(parts)


def _changed_files(old: dict[str, str] | None, new: dict[str, str] | None, shown: int = 5) -> str:
    """ "changed: a.txt; added: b.txt" from two checksum manifests ("" if one is unknown)."""
    if old is None or new is None:
        return ""
    groups = {
        "changed": [p for p in new if p in old and old[p] != new[p]],
        "added": [p for p in new if p not in old],
        "removed": [p for p in old if p not in new],
    }
    parts = []
    for label, paths in groups.items():
        if paths:
            more = f" (+{len(paths) - shown} more)" if len(paths) > shown else ""
            parts.append(f"{label}: {', '.join(paths[:shown])}{more}")
    return "; ".join(parts)
