"""History lines and small formatting helpers that mimic BuildKit's image config."""

from __future__ import annotations

import json
from datetime import UTC, datetime

HISTORY_COMMENT = "buildkit.dockerfile.v0"


def go_quote(s: str) -> str:
    """Go's %q for a string (enough for history lines)."""
    return json.dumps(s, ensure_ascii=False)


def go_list(items: list[str] | tuple[str, ...]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(go_quote(x) for x in items) + "]"


def go_value_list(items: list[str] | tuple[str, ...]) -> str:
    """Go's %v of a []string: [a b]."""
    return "[" + " ".join(items) + "]"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 0s, 1.5ms, 5s, 1m30s, 2h0m0.5s."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 10**6:
        return f"{sign}{_decimal(u, 3)}µs"
    if u < 10**9:
        return f"{sign}{_decimal(u, 6)}ms"
    hours, rest = divmod(u, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{text}{_decimal(rest, 9)}s"


def _decimal(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    decimals = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{decimals}" if decimals else str(whole)


def timestamp(epoch: int | None) -> str:
    """RFC 3339 in UTC, as Go marshals time.Time (SOURCE_DATE_EPOCH when given)."""
    moment = datetime.fromtimestamp(epoch, UTC) if epoch is not None else datetime.now(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def run_command_string(
    args: list[str], build_args: list[tuple[str, str | None]], env: dict[str, str]
) -> str:
    """BuildKit's runCommandString: `|N K=V ... args` when build args are declared."""
    entries: dict[str, str] = {}
    for key, default in build_args:
        value = env.get(key, default if default is not None else "")
        entries[key] = f"{key}={value}"
    prefix = [f"|{len(entries)}", *entries.values()] if entries else []
    return " ".join([*prefix, *args])
