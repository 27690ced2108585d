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

# Go's \s is [\t\n\f\r ]; `.` does not match "\n"; `$` is the end of the text.
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*\Z")


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
        m = _DIRECTIVE.match(trim_left_space(line[1:]))
        if m is None:
            self.done = True
            return None
        name = m.group(1).lower()
        if name not in VALID_DIRECTIVES:
            self.done = True
            return None
        if name in self.seen:
            raise DirectiveError(f"only one {name} parser directive can be used")
        self.seen.add(name)
        self.found.append((name, m.group(2), self.line))
        return name, m.group(2)


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
