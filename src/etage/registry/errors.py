"""RegistryError: what went wrong talking to a registry, said for a human.

The message names the registry, the repository and the action; the registry's own
JSON error body (`{"errors": [{"code", "message", "detail"}]}`) is folded in.
"""

from __future__ import annotations

import json
from typing import Any

from etage.errors import EtageError


class RegistryError(EtageError):
    """A registry refused, failed or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        registry: str = "",
        repository: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.codes = codes
        self.registry = registry
        self.repository = repository


def parse_error_body(body: bytes) -> tuple[tuple[str, ...], str]:
    """(codes, text) from a distribution error body; ((), "") when it is not one."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return (), ""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        # Token servers sometimes answer {"details": "..."} or {"error": "..."}.
        if isinstance(doc, dict):
            for key in ("details", "detail", "error", "message"):
                if isinstance(doc.get(key), str):
                    return (), doc[key]
        return (), ""
    codes: list[str] = []
    parts: list[str] = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        detail = err.get("detail")
        if code:
            codes.append(code)
        text = f"{code}: {message}" if code and message else code or message
        if isinstance(detail, str) and detail and detail not in text:
            text += f" ({detail})"
        elif isinstance(detail, (dict, list)) and detail:
            text += f" ({json.dumps(detail, separators=(',', ':'))[:200]})"
        if text:
            parts.append(text)
    return tuple(codes), "; ".join(parts)
