"""Go's `path.Match` and the wildcard helpers of BuildKit's copy (tonistiigi/fsutil).

COPY and ADD sources may hold wildcards. BuildKit splits a source at its first component
that holds one (`splitWildcards`: `*`, `?` or `[`, a `\\` escaping the next byte), resolves
the part before it inside the source root (symlinks followed), walks that directory and
keeps every path whose *relative* name matches the rest with Go's `filepath.Match`:

* `*` matches any run of characters except `/`, `?` one character except `/`;
* `[...]` is a character class (`[^...]` negated, ranges `a-z`, `\\` escapes) which, unlike
  `*` and `?`, may match a `/`;
* `**` is not special: it is two stars, the same as one (`**/x` matches `a/x`, never
  `a/b/x` nor `x`);
* a malformed pattern (`[`, `[]`, `[a-]`, a trailing `\\`) is `ErrBadPattern`.

`compile_match` turns a pattern into a Python regex with exactly these semantics (Go's
matcher is a leftmost-chunk backtracker; for these star-can't-cross-`/` globs it accepts the
same language as a full regex match).
"""

from __future__ import annotations

import re
from functools import lru_cache

from etage.dockerfile.ignore import go_clean

__all__ = [
    "BadPattern",
    "compile_match",
    "contains_wildcards",
    "go_match",
    "pattern_depth",
    "split_wildcards",
]


class BadPattern(ValueError):
    """Go's `path.ErrBadPattern`: "syntax error in pattern"."""


def contains_wildcards(name: str) -> bool:
    """fsutil's `containsWildcards`: a `*`, `?` or `[` not escaped by a backslash."""
    i = 0
    n = len(name)
    while i < n:
        ch = name[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


def split_wildcards(path: str) -> tuple[str, str]:
    """fsutil's `splitWildcards`: (the components before the first wildcard, the rest).

    `path` is cleaned first (Go's `filepath.Join(p)`); the first part keeps a leading `/`.
    ("/a/b*/c" -> ("/a", "b*/c"); "/a/b" -> ("/a/b", "")).
    """
    clean = go_clean(path) if path else ""
    parts = clean.split("/")
    head: list[str] = []
    tail: list[str] = []
    found = False
    for part in parts:
        if not found and contains_wildcards(part):
            found = True
        piece = "/" if part == "" else part
        (tail if found else head).append(piece)
    return _join(head), _join(tail)


def _join(parts: list[str]) -> str:
    """Go's `filepath.Join(parts...)`: join the non-empty ones, then clean."""
    text = "/".join(p for p in parts if p)
    return go_clean(text) if text else ""


def pattern_depth(pattern: str) -> int | None:
    """How many `/` every name the pattern matches holds (None when a class may match one)."""
    if "[" in pattern:
        return None
    return pattern.count("/")


def go_match(pattern: str, name: str) -> bool:
    """Go's `path.Match(pattern, name)`; raises `BadPattern` for a malformed pattern."""
    return compile_match(pattern).fullmatch(name) is not None


@lru_cache(maxsize=256)
def compile_match(pattern: str) -> re.Pattern[str]:
    """The pattern as a regex for `fullmatch` (raises `BadPattern` when malformed)."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
            i += 1
            continue
        if ch == "\\":
            if i + 1 >= n:
                raise BadPattern("syntax error in pattern")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "[":
            piece, i = _char_class(pattern, i + 1)
            out.append(piece)
            continue
        out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """Go's `getEsc`: one (possibly escaped) character of a class, and the next index."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise BadPattern("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise BadPattern("syntax error in pattern")
    ch = pattern[i]
    i += 1
    if i >= n:  # the class is not closed
        raise BadPattern("syntax error in pattern")
    return ch, i


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    count = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and count > 0:
            i += 1
            break
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if lo <= hi:  # Go accepts an inverted range; it matches nothing
            ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        count += 1
    body = "".join(ranges)
    if negated:
        return (f"[^{body}]" if body else "."), i
    return (f"[{body}]" if body else "(?!)"), i
