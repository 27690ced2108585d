"""Instruction flags as BuildKit parses them (its BFlags), plus the values some flags
carry: Go durations (HEALTHCHECK) and CSV mount specs (RUN --mount)."""

from __future__ import annotations

import csv
import re

from etage.dockerfile.suggest import did_you_mean


class FlagError(ValueError):
    pass


class HintedError(FlagError):
    """A FlagError whose hint is more useful than the instruction's usage line."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class Flags:
    """BuildKit's BFlags: declared flags, parsed from the node's raw flag words."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: set[str] = set()

    def boolean(self, name: str) -> None:
        self.kinds[name] = "bool"
        self.values[name] = "false"

    def string(self, name: str, default: str = "") -> None:
        self.kinds[name] = "string"
        self.values[name] = default

    def strings(self, name: str) -> None:
        self.kinds[name] = "strings"
        self.lists[name] = []

    def parse(self) -> Flags:
        for word in self.words:
            if word == "--":
                return self
            if not word.startswith("--"):
                raise FlagError(f"arg should start with -- : {word}")
            flag_name, has_value, value = word.partition("=")
            name = flag_name[2:]
            kind = self.kinds.get(name)
            if kind is None:
                raise FlagError(f"unknown flag: {flag_name}" + did_you_mean(name, self.kinds))
            if name in self.used and kind != "strings":
                raise FlagError(f"duplicate flag specified: {flag_name}")
            self.used.add(name)
            if kind == "bool":
                if has_value and value == "":
                    raise FlagError(f"missing a value on flag: {flag_name}")
                low = value.lower()
                if low in ("true", ""):
                    self.values[name] = "true"
                elif low == "false":
                    self.values[name] = "false"
                else:
                    raise FlagError(f"expecting boolean value for flag {flag_name}, not: {value}")
            elif not has_value:
                raise FlagError(f"missing a value on flag: {flag_name}")
            elif kind == "string":
                self.values[name] = value
            else:
                self.lists[name].append(value)
        return self

    def get(self, name: str) -> str | None:
        """The value if the flag was given, else None."""
        return self.values[name] if name in self.used else None

    def is_true(self, name: str) -> bool:
        return self.values[name] == "true"

    def optional_bool(self, name: str) -> bool | None:
        return self.values[name] == "true" if name in self.used else None


_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}  # fmt: skip
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("1m30s", "500ms", "0")."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise FlagError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            raise FlagError(f'time: invalid duration "{text}"')
        unit = m.group(2)
        if unit not in _DURATION_UNITS:
            if not any(ch.isalpha() for ch in unit):
                raise FlagError(f'time: invalid duration "{text}"')
            raise FlagError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[unit]
        pos = m.end()
    return sign * total


def mount_from_at_parse_time(spec: str) -> str | None:
    """The `from=` of a --mount value, read as BuildKit reads it before expansion."""
    fields = split_mount_fields(spec)
    found: str | None = None
    for f in fields:
        key, has_value, value = f.partition("=")
        if has_value and key.lower() == "from":
            dollar = value.find("$")
            if dollar != -1 and dollar != len(value) - 1:
                raise FlagError(
                    "'from' doesn't support variable expansion, define alias stage instead"
                )
            found = value
    return found


def split_mount_fields(spec: str) -> list[str]:
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as exc:
        raise FlagError(f"failed to parse csv mounts: {exc}") from None
    return rows[0] if rows else []
