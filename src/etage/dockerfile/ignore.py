""".dockerignore matching with Docker's exact semantics (pure: text in, answers out).

What BuildKit does, and so what this module reproduces:

* Reading the file (moby/patternmatcher ``ignorefile.ReadAll``): lines are split on
  ``\\n`` (a trailing ``\\r`` is dropped); a UTF-8 BOM is dropped from the first line; a
  line whose first character is ``#`` is a comment (``  # x`` is *not*: it is the
  pattern ``# x``); Go's ``strings.TrimSpace`` is applied; empty lines are skipped; a
  leading ``!`` marks an exception and the text after it is trimmed again; the pattern is
  cleaned like Go's ``filepath.Clean`` and one leading ``/`` is removed (so ``/a``,
  ``./a`` and ``a/`` are all ``a``).
* Compiling (``patternmatcher.New``): trimmed and cleaned once more; ``!`` alone (also
  ``!/``, which cleans to ``!``) is an error; the pattern must be valid for Go's
  ``filepath.Match`` (an unclosed ``[``, an empty class, a trailing ``\\``... are errors).
  Each pattern is then turned into one of four matchers exactly as patternmatcher does:
  exact string, prefix (``foo/**``), suffix (``**/foo``) or a regular expression where
  ``*`` is ``[^/]*``, ``?`` is ``[^/]``, ``**`` is ``(.*/)?`` (or ``.*`` at the end) and
  ``[...]`` classes and ``\\`` escapes are passed to Go's regexp engine. The Go regexp is
  translated to an equivalent Python one (see ``_translate_go_regexp``) so that even the
  odd corners agree (``[[:alpha:]]`` is a POSIX class, ``\\d`` a digit, a ``^`` in the
  middle of a wildcard pattern never matches). A pattern that Go's ``filepath.Match``
  accepts but Go's regexp rejects (``[z-a]``, ``\\q``) fails only when it is first used,
  as in BuildKit.
* Deciding (tonistiigi/fsutil ``filterFS.Walk`` with
  ``PatternMatcher.MatchesUsingParentResults``): the path is matched component by
  component from the root; a pattern that matched a directory matches everything below
  it; patterns are taken in order, an ordinary pattern is only tried while the path is not
  excluded and an exception only while it is; the last pattern that matched decides.
  This is what ``MatchesOrParentMatches`` does too, except in one corner that BuildKit's
  walker really has: a pattern skipped at a directory is later tried against the full
  path only, not against the directory (``d``, ``!d/x``, ``d`` keeps ``d/x``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from etage.errors import ContextError, SourceLocation

__all__ = [
    "DirectoryMatch",
    "DockerIgnore",
    "IgnorePattern",
    "go_clean",
    "go_trim_space",
]

# Go's unicode.IsSpace, which strings.TrimSpace uses (not Python's str.isspace: that one
# also strips U+001C..U+001F).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace``."""
    return text.strip(_GO_SPACE)


def go_clean(path: str) -> str:
    """Go's ``path/filepath.Clean`` on a Unix system."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


# --------------------------------------------------------------------------------------
# Errors


class _BadPattern(Exception):
    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


_HINT_CLASS = (
    "close every '[' with ']' and put at least one character in it; write '\\[' for a literal '['"
)
_HINT_ESCAPE = "a pattern cannot end with '\\'; write '\\\\' for a literal backslash"
_HINT_REGEXP = (
    "Docker passes '\\' escapes and '[...]' classes to Go's regexp engine, which rejects "
    "this one; escape only punctuation ('\\*', '\\?', '\\[') and keep class ranges low-high"
)


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
        raise _BadPattern("syntax error in character class", _HINT_CLASS)
    if chunk[i] == "\\":
        i += 1
        if i >= n:
            raise _BadPattern("syntax error in character class", _HINT_CLASS)
    if _is_bad_rune(chunk[i]):
        raise _BadPattern("invalid UTF-8 in character class", _HINT_CLASS)
    i += 1
    if i >= n:
        raise _BadPattern("unclosed character class '['", _HINT_CLASS)
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
                raise _BadPattern("trailing backslash", _HINT_ESCAPE)
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

_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)
# patternmatcher means to escape ".+()|{}$", but its bitmap (escapeBytes[b%8] |= 1<<(b/8),
# a byte) has no room for characters >= 64: "|", "{" and "}" reach Go's regexp unescaped,
# where they are alternation and repetition. Docker behaves so; so do we.
_REGEXP_META = frozenset(".+()$")


def _go_regexp_source(pattern: str) -> tuple[int, str]:
    kind = _EXACT
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
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        out.append(".*")
                        kind = _REGEXP
                else:
                    out.append("(.*/)?")
                    kind = _REGEXP
                if i == 0:
                    kind = _SUFFIX
            else:
                out.append("[^/]*")
                kind = _REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEXP
        elif ch in _REGEXP_META:
            out.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                out.append("\\" + chars[pos])
                pos += 1
                kind = _REGEXP
            else:
                out.append("\\")
        elif ch in "[]":
            out.append(ch)
            kind = _REGEXP
        else:
            out.append(ch)
        i += 1
    out.append("$")
    return kind, "".join(out)


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


def _regexp_error(what: str) -> _BadPattern:
    return _BadPattern(f"Go's regexp rejects it: {what}", _HINT_REGEXP)


def _unsupported(what: str) -> _BadPattern:
    return _BadPattern(
        f"{what} is not supported by etage",
        "rewrite the pattern without Unicode property classes (\\p, \\P)",
    )


def _parse_escape(s: str, i: int) -> tuple[int, int]:
    """RE2 parseEscape at s[i] == '\\': return (code point, next index)."""
    n = len(s)
    if i + 1 >= n:
        raise _regexp_error("trailing backslash")
    c = s[i + 1]
    j = i + 2
    if c < "\x80" and not c.isalnum():
        return ord(c), j
    if c in "1234567" and not (j < n and s[j] in _OCTAL):
        raise _regexp_error(f"invalid escape sequence '\\{c}' (backreferences)")
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
        raise _regexp_error("invalid escape sequence '\\x'")
    if c in _C_ESCAPES:
        return _C_ESCAPES[c], j
    raise _regexp_error(f"invalid escape sequence '\\{c}'")


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
            raise _regexp_error("missing closing ]")
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
                    raise _regexp_error(f"invalid character class range '{s[i : end + 2]}'")
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
                raise _regexp_error("invalid character class range")
        ranges.append((lo, hi))
    return _py_class(ranges, negated), i


def _class_char(s: str, i: int) -> tuple[int, int]:
    if i >= len(s):
        raise _regexp_error("missing closing ]")
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


def _translate_go_regexp(src: str) -> str:
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
                raise _regexp_error("invalid escape sequence '\\C'")
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
                    raise _regexp_error("invalid repeat count")
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


# --------------------------------------------------------------------------------------
# Patterns


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    """One pattern of an ignore file, as Docker uses it."""

    text: str  # the cleaned pattern, without the leading "!"
    exclusion: bool  # True for a "!" exception
    line: int  # 1-based line in the ignore file

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


_Matcher = Callable[[str], object]


class _Compiled:
    """A pattern compiled once: a fast matcher plus what the walker needs to prune."""

    __slots__ = (
        "bit",
        "depth",
        "exclusion",
        "index",
        "kind",
        "lit",
        "match",
        "pattern",
        "text",
    )

    def __init__(self, index: int, pattern: IgnorePattern, source: str, source_line: str):
        self.index = index
        self.bit = 1 << index
        self.pattern = pattern
        self.exclusion = pattern.exclusion
        text = pattern.text
        self.text = text
        kind, go_src = _go_regexp_source(text)
        self.kind = kind
        # lit: every path the pattern matches starts with it; depth: the number of "/"
        # in every path it matches, when that is fixed (None otherwise).
        self.depth: int | None = None
        self.lit = ""
        self.match: _Matcher
        if kind == _EXACT:
            self.match = text.__eq__
            self.lit = text
            self.depth = text.count("/")
        elif kind == _PREFIX:
            prefix = text[:-2]
            self.match = lambda path: path.startswith(prefix)
            self.lit = prefix
        elif kind == _SUFFIX:
            suffix = text[2:]
            bare = suffix[1:] if suffix.startswith("/") else None
            if bare is None:
                self.match = lambda path: path.endswith(suffix)
            else:
                self.match = lambda path: path.endswith(suffix) or path == bare
        else:
            try:
                regex = re.compile(_translate_go_regexp(go_src), re.ASCII)
            except _BadPattern as exc:
                self.match = _failing_matcher(pattern, source, source_line, exc)
                return
            except re.error as exc:
                bad = _regexp_error(str(exc))
                self.match = _failing_matcher(pattern, source, source_line, bad)
                return
            # Go's MatchString searches; the leading "^" anchors it unless a "|" splits it.
            self.match = regex.search if "|" in go_src else regex.match
            if "|" in text or "{" in text:
                return  # alternation or repetition: no literal prefix, no fixed depth
            if not text.startswith("\ufeff"):
                cut = len(text)
                for special in "*?[]\\^":
                    pos = text.find(special)
                    if 0 <= pos < cut:
                        cut = pos
                self.lit = text[:cut]
            if "**" not in text and "[" not in text and "\\" not in text:
                self.depth = text.count("/")

    def _compatible(self, dir_prefix: str) -> bool:
        lit = self.lit
        return lit.startswith(dir_prefix) or dir_prefix.startswith(lit)

    def can_match_child_of(self, dir_prefix: str, child_depth: int) -> bool:
        """Can this pattern match an entry directly inside the directory?"""
        if self.kind == _EXACT:
            return self.text.startswith(dir_prefix) and "/" not in self.text[len(dir_prefix) :]
        depth = self.depth
        return (depth is None or depth == child_depth) and self._compatible(dir_prefix)

    def can_match_within(self, dir_prefix: str, child_depth: int) -> bool:
        """Can this pattern match some path anywhere below the directory?"""
        if self.kind == _EXACT:
            return self.text.startswith(dir_prefix)
        depth = self.depth
        return (depth is None or depth >= child_depth) and self._compatible(dir_prefix)


def _failing_matcher(
    pattern: IgnorePattern, source: str, source_line: str, exc: _BadPattern
) -> _Matcher:
    def fail(path: str) -> object:
        raise _pattern_error(
            pattern.text,
            pattern.exclusion,
            source=source,
            line=pattern.line,
            source_line=source_line,
            exc=exc,
        )

    return fail


def _pattern_error(
    text: str, exclusion: bool, *, source: str, line: int, source_line: str, exc: _BadPattern
) -> ContextError:
    shown = ("!" if exclusion else "") + text
    name = source or ".dockerignore"
    return ContextError(
        f"invalid pattern {shown!r} in {name}: {exc.reason}",
        location=SourceLocation(name, line),
        hint=exc.hint,
        source_line=source_line,
    )


# --------------------------------------------------------------------------------------
# Incremental matching, one directory at a time (what a walker uses).

_Step = tuple[bool, int, "_Matcher | None", bool]  # (exclusion, bit, matcher or None, value)


class DirectoryMatch:
    """Matching state of one directory, to decide its entries quickly.

    ``vector`` holds one bit per pattern that matched this directory (BuildKit's
    ``MatchInfo``); those patterns match everything below it. The patterns that cannot
    match an entry of this directory are left out of the per-entry work.
    """

    __slots__ = (
        "_candidates",
        "_child_depth",
        "_exceptions",
        "_init",
        "_patterns",
        "_steps",
        "constant",
        "excluded",
        "prefix",
        "vector",
    )

    def __init__(
        self,
        prefix: str,
        vector: int,
        *,
        excluded: bool,
        patterns: tuple[_Compiled, ...],
        candidates: tuple[_Compiled, ...],
        child_depth: int,
    ) -> None:
        self.prefix = prefix  # "" for the root, else "dir/"
        self.vector = vector
        self.excluded = excluded
        self._patterns = patterns  # all of them, in file order
        self._candidates = candidates  # those that may match somewhere below
        self._child_depth = child_depth
        self._exceptions = tuple(c for c in candidates if c.exclusion)
        live = {c.index for c in candidates if c.can_match_child_of(prefix, child_depth)}
        steps: list[_Step] = []
        for c in patterns:
            if vector & c.bit:
                steps.append((c.exclusion, c.bit, None, not c.exclusion))
            elif c.index in live:
                steps.append((c.exclusion, c.bit, c.match, not c.exclusion))
        init = False
        while steps and steps[0][2] is None:
            init = steps[0][3]
            steps.pop(0)
        self._init = init
        self._steps = tuple(steps)
        # No pattern left to try: every entry inherits this directory's verdict.
        self.constant = not any(step[2] is not None for step in steps)

    def match(self, name: str) -> tuple[int, bool]:
        """(vector, excluded) of the entry ``name`` of this directory."""
        if self.constant:
            return self.vector, self.excluded
        path = self.prefix + name
        matched = self._init
        vector = self.vector
        for exclusion, bit, matcher, value in self._steps:
            if matcher is None:
                matched = value
            elif exclusion == matched and matcher(path):
                vector |= bit
                matched = value
        return vector, matched

    def may_include_below(self, name: str, vector: int) -> bool:
        """Could an exception re-include something below the excluded directory ``name``?

        Only exceptions after the pattern that excluded it can (the patterns that matched
        the directory match everything below it), and only if they can match a path
        under it.
        """
        if not self._exceptions:
            return False
        decisive = vector.bit_length() - 1
        prefix = self.prefix + name + "/"
        depth = self._child_depth + 1
        return any(
            c.index > decisive and c.can_match_within(prefix, depth) for c in self._exceptions
        )

    def enter(self, name: str, vector: int, excluded: bool) -> DirectoryMatch:
        """The state of the subdirectory ``name`` (with its own match result)."""
        prefix = self.prefix + name + "/"
        depth = self._child_depth + 1
        candidates = tuple(c for c in self._candidates if c.can_match_within(prefix, depth))
        return DirectoryMatch(
            prefix,
            vector,
            excluded=excluded,
            patterns=self._patterns,
            candidates=candidates,
            child_depth=depth,
        )


class DockerIgnore:
    """The patterns of one ignore file, compiled; answers Docker's questions about paths."""

    __slots__ = ("_cache", "_compiled", "_root", "patterns", "source")

    def __init__(
        self,
        patterns: tuple[IgnorePattern, ...] = (),
        source: str = "",
        *,
        _source_lines: tuple[str, ...] | None = None,
    ) -> None:
        self.source = source
        self.patterns = patterns
        lines = _source_lines or ()
        compiled = []
        for index, pattern in enumerate(patterns):
            raw = lines[pattern.line - 1] if 0 < pattern.line <= len(lines) else str(pattern)
            _check_pattern(pattern, source, raw)
            compiled.append(_Compiled(index, pattern, source, raw))
        self._compiled = tuple(compiled)
        self._root = DirectoryMatch(
            "",
            0,
            excluded=False,
            patterns=self._compiled,
            candidates=self._compiled,
            child_depth=0,
        )
        self._cache: dict[str, tuple[int, bool]] = {}

    # -- construction ------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, source: str = ".dockerignore") -> DockerIgnore:
        """Read an ignore file's text as BuildKit does; raise ContextError if invalid."""
        raw_lines = text.split("\n")
        if raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        lines = tuple(line[:-1] if line.endswith("\r") else line for line in raw_lines)
        patterns: list[IgnorePattern] = []
        for number, original in enumerate(lines, start=1):
            line = original
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if line.startswith("#"):
                continue
            line = go_trim_space(line)
            if not line:
                continue
            # ignorefile.ReadAll
            invert = line[0] == "!"
            if invert:
                line = go_trim_space(line[1:])
            if line:
                line = go_clean(line)
                if len(line) > 1 and line[0] == "/":
                    line = line[1:]
            if invert:
                line = "!" + line
            # patternmatcher.New
            line = go_trim_space(line)
            if not line:
                continue
            line = go_clean(line)
            exclusion = line[0] == "!"
            if exclusion:
                if len(line) == 1:
                    raise _pattern_error(
                        "",
                        True,
                        source=source,
                        line=number,
                        source_line=original,
                        exc=_BadPattern(
                            'illegal exclusion pattern "!"',
                            "write the path to re-include after the '!', e.g. '!README.md'",
                        ),
                    )
                line = line[1:]
            pattern = IgnorePattern(line, exclusion, number)
            _check_pattern(pattern, source, original)
            patterns.append(pattern)
        return cls(tuple(patterns), source, _source_lines=lines)

    @classmethod
    def empty(cls) -> DockerIgnore:
        return cls((), "")

    # -- questions ---------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"DockerIgnore(source={self.source!r}, patterns={self.patterns!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DockerIgnore):
            return NotImplemented
        return (self.source, self.patterns) == (other.source, other.patterns)

    def __hash__(self) -> int:
        return hash((self.source, self.patterns))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def root(self) -> DirectoryMatch:
        """Matching state of the context root, for walkers (see DirectoryMatch)."""
        return self._root

    def is_excluded(self, path: str) -> bool:
        """Is ``path`` (relative to the context root, "/"-separated) left out of the context?"""
        norm = _normalize(path)
        if not norm:
            return False
        return self._decide(norm)[1]

    def matching_pattern(self, path: str) -> IgnorePattern | None:
        """The pattern that decided for ``path``: the last one that matched it, if any."""
        norm = _normalize(path)
        if not norm:
            return None
        vector = self._decide(norm)[0]
        if not vector:
            return None
        return self.patterns[vector.bit_length() - 1]

    def may_include_below(self, dir_path: str) -> bool:
        """Can an exception re-include anything under this directory?

        True when the directory is not excluded (its entries are then decided one by one).
        False means a walker can skip the whole directory: nothing below it is sent.
        """
        norm = _normalize(dir_path)
        if not norm:
            return True
        vector, excluded = self._decide(norm)
        if not excluded:
            return True
        parent, _, name = norm.rpartition("/")
        state = self._root
        if parent:
            # The candidates of the parent state only prune; a fresh root-derived state
            # for the parent gives the same answer without walking its ancestors.
            parent_vector, parent_excluded = self._decide(parent)
            state = DirectoryMatch(
                parent + "/",
                parent_vector,
                excluded=parent_excluded,
                patterns=self._compiled,
                candidates=self._compiled,
                child_depth=parent.count("/") + 1,
            )
        return state.may_include_below(name, vector)

    def _decide(self, path: str) -> tuple[int, bool]:
        """(vector, excluded) of a clean relative path, matching from the root down."""
        compiled = self._compiled
        cache = self._cache
        vector = 0
        end = path.find("/")
        while end >= 0:
            parent = path[:end]
            hit = cache.get(parent)
            if hit is None:
                hit = _match_path(compiled, parent, vector)
                if len(cache) >= 65536:
                    cache.clear()
                cache[parent] = hit
            vector = hit[0]
            end = path.find("/", end + 1)
        return _match_path(compiled, path, vector)


def _match_path(compiled: tuple[_Compiled, ...], path: str, parent_vector: int) -> tuple[int, bool]:
    """PatternMatcher.MatchesUsingParentResults."""
    matched = False
    vector = 0
    for c in compiled:
        if parent_vector & c.bit:
            vector |= c.bit
            matched = not c.exclusion
            continue
        if c.exclusion != matched:
            continue
        if c.match(path):
            vector |= c.bit
            matched = not c.exclusion
    return vector, matched


def _check_pattern(pattern: IgnorePattern, source: str, source_line: str) -> None:
    try:
        _check_go_match_syntax(pattern.text)
    except _BadPattern as exc:
        raise _pattern_error(
            pattern.text,
            pattern.exclusion,
            source=source,
            line=pattern.line,
            source_line=source_line,
            exc=exc,
        ) from None


def _normalize(path: str) -> str:
    norm = go_clean(path)
    if norm.startswith("/"):
        norm = norm.lstrip("/")
    return "" if norm == "." else norm
