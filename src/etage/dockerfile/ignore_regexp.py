"""Go's regexp syntax (RE2, Perl flags, no multi-line) translated to Python's ``re``.

patternmatcher hands the regexp it builds from a .dockerignore pattern (see
``ignore_patterns.go_regexp_source``) to Go's regexp engine, with the pattern's ``[...]``
classes and ``\\`` escapes passed through as the user wrote them. To match exactly as
Docker does, ``translate_go_regexp`` parses that RE2 source and writes the equivalent
Python regexp, raising ``BadPattern`` where Go's regexp would reject it.
"""

from __future__ import annotations

import re

from etage.dockerfile.ignore_patterns import BadPattern

__all__ = ["regexp_error", "translate_go_regexp"]

_HINT_REGEXP = (
    "Docker passes '\\' escapes and '[...]' classes to Go's regexp engine, which rejects "
    "this one; escape only punctuation ('\\*', '\\?', '\\[') and keep class ranges low-high"
)


# --------------------------------------------------------------------------------------
# Go regexp (RE2, Perl flags, no multi-line) -> Python re. Only what patternmatcher can
# emit needs handling, but user text passes through '[...]' and '\x' unchanged, so this
# is a small RE2 parser for literals, escapes, classes, anchors and the inserted pieces.

_MAX_RUNE = 0x10FFFF
_Ranges = list[tuple[int, int]]

_POSIX_CLASSES: dict[str, _Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL_CLASSES: dict[str, _Ranges] = {
    "d": _POSIX_CLASSES["digit"],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],  # RE2's \s has no \v
    "w": _POSIX_CLASSES["word"],
}
_C_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


def _negate(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX_RUNE:
        out.append((nxt, _MAX_RUNE))
    return out


def _py_class(ranges: _Ranges, negated: bool = False) -> str:
    parts = []
    for lo, hi in ranges:
        if lo == hi:
            parts.append(f"\\U{lo:08x}")
        else:
            parts.append(f"\\U{lo:08x}-\\U{hi:08x}")
    body = "".join(parts)
    if not body:
        return "[^\\s\\S]" if not negated else "[\\s\\S]"
    return ("[^" if negated else "[") + body + "]"


def regexp_error(what: str) -> BadPattern:
    return BadPattern(f"Go's regexp rejects it: {what}", _HINT_REGEXP)


def _unsupported(what: str) -> BadPattern:
    return BadPattern(
        f"{what} is not supported by etage",
        "rewrite the pattern without Unicode property classes (\\p, \\P)",
    )


def _parse_escape(s: str, i: int) -> tuple[int, int]:
    """RE2 parseEscape at s[i] == '\\': return (code point, next index)."""
    n = len(s)
    if i + 1 >= n:
        raise regexp_error("trailing backslash")
    c = s[i + 1]
    j = i + 2
    if c < "\x80" and not c.isalnum():
        return ord(c), j
    if c in "1234567" and not (j < n and s[j] in _OCTAL):
        raise regexp_error(f"invalid escape sequence '\\{c}' (backreferences)")
    if c in _OCTAL:
        value = ord(c) - 0x30
        for _ in range(2):
            if j < n and s[j] in _OCTAL:
                value = value * 8 + ord(s[j]) - 0x30
                j += 1
            else:
                break
        return value, j
    if c == "x":
        if j + 1 < n and s[j] in _HEX and s[j + 1] in _HEX:
            return int(s[j : j + 2], 16), j + 2
        raise regexp_error("invalid escape sequence '\\x'")
    if c in _C_ESCAPES:
        return _C_ESCAPES[c], j
    raise regexp_error(f"invalid escape sequence '\\{c}'")


def _parse_class(s: str, i: int) -> tuple[str, int]:
    """RE2 parseClass at s[i] == '['; return (Python class, next index)."""
    n = len(s)
    i += 1
    negated = False
    if i < n and s[i] == "^":
        negated = True
        i += 1
    ranges: _Ranges = []
    first = True
    while True:
        if i >= n:
            raise regexp_error("missing closing ]")
        if s[i] == "]" and not first:
            i += 1
            break
        first = False
        if s.startswith("[:", i):
            end = s.find(":]", i + 2)
            if end >= 0:
                name = s[i + 2 : end]
                neg = name.startswith("^")
                group = _POSIX_CLASSES.get(name[1:] if neg else name)
                if group is None:
                    raise regexp_error(f"invalid character class range '{s[i : end + 2]}'")
                ranges.extend(_negate(group) if neg else group)
                i = end + 2
                continue
        if s[i] == "\\" and i + 1 < n:
            letter = s[i + 1]
            if letter in "pP":
                raise _unsupported(f"'\\{letter}'")
            if letter.lower() in _PERL_CLASSES:
                group = _PERL_CLASSES[letter.lower()]
                ranges.extend(_negate(group) if letter.isupper() else group)
                i += 2
                continue
        lo, i = _class_char(s, i)
        hi = lo
        if i + 1 < n and s[i] == "-" and s[i + 1] != "]":
            hi, i = _class_char(s, i + 1)
            if hi < lo:
                raise regexp_error("invalid character class range")
        ranges.append((lo, hi))
    return _py_class(ranges, negated), i


def _class_char(s: str, i: int) -> tuple[int, int]:
    if i >= len(s):
        raise regexp_error("missing closing ]")
    if s[i] == "\\":
        return _parse_escape(s, i)
    return ord(s[i]), i + 1


def _parse_int(s: str, i: int) -> tuple[int, int] | None:
    """RE2 parseInt: decimal digits without a leading zero; -1 when too big."""
    n = len(s)
    if i >= n or not "0" <= s[i] <= "9":
        return None
    if s[i] == "0" and i + 1 < n and "0" <= s[i + 1] <= "9":
        return None
    j = i
    while j < n and "0" <= s[j] <= "9":
        j += 1
    value = 0
    for ch in s[i:j]:
        if value >= 100_000_000:
            value = -1
            break
        value = value * 10 + ord(ch) - 0x30
    return value, j


def _parse_repeat(s: str, i: int) -> tuple[int, int, int] | None:
    """RE2 parseRepeat at s[i] == "{": (min, max or -1, next index), None if not one."""
    n = len(s)
    first = _parse_int(s, i + 1)
    if first is None:
        return None
    low, j = first
    if j >= n:
        return None
    if s[j] != ",":
        high = low
    else:
        j += 1
        if j >= n:
            return None
        if s[j] == "}":
            high = -1
        else:
            second = _parse_int(s, j)
            if second is None:
                return None
            high, j = second
            if high < 0:
                low = -1
    if j >= n or s[j] != "}":
        return None
    return low, high, j + 1


def translate_go_regexp(src: str) -> str:
    out: list[str] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1] if i + 1 < n else ""
            if nxt == "A":
                out.append("(?:\\A)")
                i += 2
            elif nxt == "z":
                out.append("(?:\\Z)")
                i += 2
            elif nxt in ("b", "B"):
                out.append(f"(?:\\{nxt})")  # ASCII word boundary (compiled with re.ASCII)
                i += 2
            elif nxt == "C":
                raise regexp_error("invalid escape sequence '\\C'")
            elif nxt == "Q":
                end = src.find("\\E", i + 2)
                literal = src[i + 2 :] if end < 0 else src[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
            elif nxt in ("p", "P"):
                raise _unsupported(f"'\\{nxt}'")
            elif nxt and nxt.lower() in _PERL_CLASSES:
                out.append(_py_class(_PERL_CLASSES[nxt.lower()], nxt.isupper()))
                i += 2
            else:
                code, i = _parse_escape(src, i)
                out.append(re.escape(chr(code)))
        elif c == "[":
            cls, i = _parse_class(src, i)
            out.append(cls)
        elif c == "^":
            # Anchors are grouped: Go lets a repetition apply to them, Python does not.
            out.append("(?:\\A)")
            i += 1
        elif c == "$":
            out.append("(?:\\Z)")
            i += 1
        elif c == "{":
            repeat = _parse_repeat(src, i)
            if repeat is None:
                out.append("\\{")  # not a repetition: a literal "{"
                i += 1
            else:
                low, high, i = repeat
                if low < 0 or low > 1000 or high > 1000 or 0 <= high < low:
                    raise regexp_error("invalid repeat count")
                if high == low:
                    out.append(f"{{{low}}}")
                elif high < 0:
                    out.append(f"{{{low},}}")
                else:
                    out.append(f"{{{low},{high}}}")
        elif c == "|":
            out.append("|")
            i += 1
        elif c == "(":
            out.append("(?:")
            i += 1
        elif c in ".)*?+":
            out.append(c)
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)
