"""Small pieces of Go semantics the Dockerfile parser depends on.

BuildKit's parser is written in Go, and some of its behaviour comes from Go's
standard library rather than from the parser itself: which characters count as
whitespace, how `regexp.Split` treats empty pieces, how `%q` quotes a string.
Reproducing them here keeps the parser faithful without scattering the details.
"""

from __future__ import annotations

import re

# unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property. Not the same
# set as str.isspace(), which also counts the ASCII separators \x1c-\x1f.
GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_CHARS = "".join(sorted(GO_SPACES))

# Bytes that unicode.IsSpace accepts when Go code casts a single byte to a rune.
GO_SPACE_BYTES = frozenset(b"\t\n\v\f\r \x85\xa0")


def is_space(ch: str) -> bool:
    return ch in GO_SPACES


def trim_space(s: str) -> str:
    """strings.TrimSpace."""
    return s.strip(_GO_SPACE_CHARS)


def trim_left_space(s: str) -> str:
    """strings.TrimLeftFunc(s, unicode.IsSpace)."""
    return s.lstrip(_GO_SPACE_CHARS)


def to_lower(s: str) -> str:
    """strings.ToLower: each character's simple lower-case mapping.

    str.lower() applies full mappings, so "İ" (U+0130) becomes two characters and
    `MAİNTAINER` would not be MAINTAINER, while BuildKit dispatches it as one.
    """
    if s.isascii():
        return s.lower()
    return "".join(ch.lower()[0] for ch in s)


def regexp_split(pattern: re.Pattern[str], s: str, n: int) -> list[str]:
    """Go's (*regexp.Regexp).Split, which differs from re.split at the edges."""
    if n == 0:
        return []
    if s == "":
        return [""]
    out: list[str] = []
    beg = end = 0
    for m in pattern.finditer(s):
        if n > 0 and len(out) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            out.append(s[beg:end])
        beg = m.end()
    if end != len(s):
        out.append(s[beg:])
    return out


def quote(s: str) -> str:
    """An approximation of Go's %q, good enough for error messages."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
