"""One .dockerignore pattern: whether Docker accepts it, and the Go regexp it makes of it.

moby/patternmatcher checks each pattern with Go's ``filepath.Match`` when the file is
read (``check_pattern``), then compiles it to one of four matchers: exact string,
prefix, suffix, or a Go regular expression built from the pattern
(``go_regexp_source``). A bad pattern raises ``BadPattern``, which ``pattern_error``
turns into the ContextError the user sees. The Go regexp is translated to Python by
``ignore_regexp``; paths are matched by ``ignore_match``.
"""

from __future__ import annotations

from dataclasses import dataclass

from etage.errors import ContextError, SourceLocation

__all__ = [
    "EXACT",
    "PREFIX",
    "REGEXP",
    "SUFFIX",
    "BadPattern",
    "IgnorePattern",
    "check_pattern",
    "go_regexp_source",
    "pattern_error",
]


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    """One pattern of an ignore file, as Docker uses it."""

    text: str  # the cleaned pattern, without the leading "!"
    exclusion: bool  # True for a "!" exception
    line: int  # 1-based line in the ignore file

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


# --------------------------------------------------------------------------------------
# Errors


class BadPattern(Exception):
    """Why Docker rejects a pattern (``reason``), and how to write it instead (``hint``)."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


_HINT_CLASS = (
    "close every '[' with ']' and put at least one character in it; write '\\[' for a literal '['"
)
_HINT_ESCAPE = "a pattern cannot end with '\\'; write '\\\\' for a literal backslash"


# --------------------------------------------------------------------------------------
# Go's filepath.Match, syntax check only (patternmatcher.New calls Match(p, ".") for
# its error). Go operates on bytes; every special character is ASCII, so walking the
# str character by character gives the same answer.


def _scan_chunk(pattern: str) -> tuple[str, str]:
    """filepath.scanChunk: skip leading stars, return (chunk, rest)."""
    pattern = pattern.lstrip("*")
    in_range = False
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n:
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return pattern[:i], pattern[i:]


def _is_bad_rune(c: str) -> bool:
    # A byte that is not valid UTF-8 reaches us as a surrogate escape (os.fsdecode).
    return "\udc80" <= c <= "\udcff"


def _get_esc(chunk: str, i: int) -> int:
    """filepath.getEsc: validate one class character at chunk[i], return the next index."""
    n = len(chunk)
    if i >= n or chunk[i] in "-]":
        raise BadPattern("syntax error in character class", _HINT_CLASS)
    if chunk[i] == "\\":
        i += 1
        if i >= n:
            raise BadPattern("syntax error in character class", _HINT_CLASS)
    if _is_bad_rune(chunk[i]):
        raise BadPattern("invalid UTF-8 in character class", _HINT_CLASS)
    i += 1
    if i >= n:
        raise BadPattern("unclosed character class '['", _HINT_CLASS)
    return i


def _check_chunk(chunk: str) -> None:
    """filepath.matchChunk with nothing left to match: only the syntax checks remain."""
    i = 0
    n = len(chunk)
    while i < n:
        c = chunk[i]
        if c == "[":
            i += 1
            if i < n and chunk[i] == "^":
                i += 1
            nrange = 0
            while True:
                if i < n and chunk[i] == "]" and nrange > 0:
                    i += 1
                    break
                i = _get_esc(chunk, i)
                if chunk[i] == "-":
                    i = _get_esc(chunk, i + 1)
                nrange += 1
        elif c == "\\":
            i += 1
            if i >= n:
                raise BadPattern("trailing backslash", _HINT_ESCAPE)
            i += 1
        else:
            i += 1


def _check_go_match_syntax(pattern: str) -> None:
    rest = pattern
    while rest:
        chunk, rest = _scan_chunk(rest)
        _check_chunk(chunk)


# --------------------------------------------------------------------------------------
# patternmatcher's Pattern.compile: decide the match type and build the Go regexp source.

EXACT, PREFIX, SUFFIX, REGEXP = range(4)
# patternmatcher means to escape ".+()|{}$", but its bitmap (escapeBytes[b%8] |= 1<<(b/8),
# a byte) has no room for characters >= 64: "|", "{" and "}" reach Go's regexp unescaped,
# where they are alternation and repetition. Docker behaves so; so do we.
_REGEXP_META = frozenset(".+()$")


def go_regexp_source(pattern: str) -> tuple[int, str]:
    kind = EXACT
    out = ["^"]
    chars = pattern
    pos = 0
    n = len(chars)
    if chars.startswith("\ufeff"):  # text/scanner drops a BOM at the start
        pos = 1
    i = 0
    while pos < n:
        ch = chars[pos]
        pos += 1
        if ch == "*":
            if pos < n and chars[pos] == "*":
                pos += 1
                if pos < n and chars[pos] == "/":
                    pos += 1
                if pos >= n:
                    if kind == EXACT:
                        kind = PREFIX
                    else:
                        out.append(".*")
                        kind = REGEXP
                else:
                    out.append("(.*/)?")
                    kind = REGEXP
                if i == 0:
                    kind = SUFFIX
            else:
                out.append("[^/]*")
                kind = REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = REGEXP
        elif ch in _REGEXP_META:
            out.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                out.append("\\" + chars[pos])
                pos += 1
                kind = REGEXP
            else:
                out.append("\\")
        elif ch in "[]":
            out.append(ch)
            kind = REGEXP
        else:
            out.append(ch)
        i += 1
    out.append("$")
    return kind, "".join(out)


def pattern_error(
    text: str, exclusion: bool, *, source: str, line: int, source_line: str, exc: BadPattern
) -> ContextError:
    shown = ("!" if exclusion else "") + text
    name = source or ".dockerignore"
    return ContextError(
        f"invalid pattern {shown!r} in {name}: {exc.reason}",
        location=SourceLocation(name, line),
        hint=exc.hint,
        source_line=source_line,
    )


def check_pattern(pattern: IgnorePattern, source: str, source_line: str) -> None:
    try:
        _check_go_match_syntax(pattern.text)
    except BadPattern as exc:
        raise pattern_error(
            pattern.text,
            pattern.exclusion,
            source=source,
            line=pattern.line,
            source_line=source_line,
            exc=exc,
        ) from None
