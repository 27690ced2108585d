"""Parser directives: `# syntax=`, `# escape=` and `# check=` at the top of a Dockerfile.

Directives must come before anything else; the first line that is not a directive
(an instruction, an ordinary comment, even an empty line) ends them. Each may appear
once. This follows the current BuildKit parser, which knows `check` (older parsers
treated it as an ordinary comment).
"""

from __future__ import annotations

import re

from etage.dockerfile.gocompat import trim_left_space

VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})

_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
_RE2_SPACES = "\t\n\f\r "  # Go regexp's \s


def match_directive(text: str) -> tuple[str, str] | None:
    """`name = value` as Go's `^([a-zA-Z][a-zA-Z0-9]*)\\s*=\\s*(.+?)\\s*$` reads it.

    By hand rather than with that regexp: Python's backtracking makes its lazy value
    followed by optional spaces quadratic (14 s for a 60 KB line; RE2 is linear).
    """
    m = _NAME.match(text)
    if m is None:
        return None
    rest = text[m.end() :].lstrip(_RE2_SPACES)
    if not rest.startswith("="):
        return None
    tail = rest[1:]
    value = tail.strip(_RE2_SPACES)
    if value == "":
        # Only spaces after "=": the lazy group still takes one character, the last
        # one that `.` matches (anything but a newline).
        value = tail.rstrip("\n")[-1:]
        if value == "":
            return None
    if "\n" in value:  # `.` does not match a newline
        return None
    return m.group(0), value


class DirectiveError(ValueError):
    pass


class DirectiveScanner:
    """Feeds lines one by one, as BuildKit does, and collects the directives."""

    __slots__ = ("done", "found", "line", "seen")

    def __init__(self) -> None:
        self.line = 0
        self.done = False
        self.seen: set[str] = set()
        self.found: list[tuple[str, str, int]] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """Returns (name, value) when `line` is a directive; raises DirectiveError on a repeat."""
        self.line += 1
        if self.done:
            return None
        if not line.startswith("#"):
            self.done = True
            return None
        m = match_directive(trim_left_space(line[1:]))
        if m is None:
            self.done = True
            return None
        name = m[0].lower()
        if name not in VALID_DIRECTIVES:
            self.done = True
            return None
        if name in self.seen:
            raise DirectiveError(f"only one {name} parser directive can be used")
        self.seen.add(name)
        self.found.append((name, m[1], self.line))
        return name, m[1]


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_check_directive(value: str) -> tuple[frozenset[str], bool, frozenset[str]]:
    """`skip=A,B;error=true;experimental=C` -> (skip, error, experimental).

    Same grammar as BuildKit's ParseLintOptions; `all` is kept as the name "all".
    Raises ValueError on an invalid option.
    """
    skip: set[str] = set()
    experimental: set[str] = set()
    error = False
    value = value.strip()
    if value == "":
        return frozenset(), False, frozenset()
    for part in value.split(";", 2):
        key, has_value, val = part.partition("=")
        if not has_value:
            raise ValueError(f'invalid check option "{part}"')
        key = key.strip()
        val = val.strip()
        if key == "skip":
            skip.update(["all"] if val == "all" else (v.strip() for v in val.split(",")))
        elif key == "experimental":
            experimental.update(["all"] if val == "all" else (v.strip() for v in val.split(",")))
        elif key == "error":
            if val in _GO_TRUE:
                error = True
            elif val in _GO_FALSE:
                error = False
            else:
                raise ValueError(f'failed to parse check option "{part}": invalid syntax')
        else:
            raise ValueError(f'invalid check option "{key}"')
    skip.discard("")
    experimental.discard("")
    return frozenset(skip), error, frozenset(experimental)
