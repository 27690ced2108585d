"""Canonical JSON: the bytes etage writes for manifests, indexes and configs.

Digests are computed over exact bytes, so the encoding must never vary: compact
separators, keys in a fixed order (the order of the Go structs BuildKit and containerd
marshal, so documents read the same), UTF-8, and Go's HTML-safe escaping of <, > and &
(Go's json.Marshal does it by default; configs written by BuildKit contain it).
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def canonical_json(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if any(ch in text for ch in _GO_ESCAPES):
        text = "".join(_GO_ESCAPES.get(ch, ch) for ch in text)
    return text.encode("utf-8")


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object; raise ValueError naming `what` otherwise."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value
