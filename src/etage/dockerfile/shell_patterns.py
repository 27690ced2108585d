"""Go semantics that BuildKit's shell lexer borrows, for ``etage.dockerfile.shell``.

* Shell patterns of ``${V#p}``, ``${V%p}`` and ``${V/p/r}``: BuildKit converts them to
  a Go regexp (``convertShellPatternToRegex``: ``*`` and ``?`` wildcards, ``\\``
  escapes) and matches them leftmost-first. ``ShellPattern`` matches the same way, with
  Python's ``re`` for patterns with few stars and ``_StarMatcher``, which is linear like
  Go's RE2, for the others.
* ``Regexp.ReplaceAllString`` and ``Regexp.Expand``, for ``${V//p/r}``.
* Go's rune decoding (a byte that is not UTF-8 reads as U+FFFD) and ``strconv.Quote``,
  which BuildKit's error messages print words with.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from functools import lru_cache

__all__ = [
    "BOM",
    "EOF_RUNE",
    "SURROGATE",
    "PatternError",
    "ShellPattern",
    "as_runes",
    "go_quote",
    "go_replace_all",
    "reverse_pattern",
    "shell_pattern",
]

BOM = "\ufeff"
# What Go prints for string(rune(scanner.EOF)) and for %c of it.
EOF_RUNE = "\ufffd"
# A lone surrogate: a byte that was not UTF-8 (``surrogateescape``), which Go reads as U+FFFD.
SURROGATE = re.compile("[\\ud800-\\udfff]")


# -- shell patterns --------------------------------------------------------------------


class PatternError(Exception):
    pass


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


class _Wild(enum.Enum):
    STAR = "*"  # any run of characters but a newline
    ANY = "?"  # any one character but a newline


def _pattern_tokens(pattern: str) -> list[str | _Wild]:
    """The tokens of a shell pattern: wildcards, and characters to match literally.

    Raises PatternError for a bad escape, with Go's message.
    """
    tokens: list[str | _Wild] = []
    # A fresh Go scanner reads the pattern, so a leading BOM is skipped there too.
    i = 1 if pattern.startswith(BOM) else 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            tokens.append(_Wild.STAR)
        elif c == "?":
            tokens.append(_Wild.ANY)
        elif c == "\\":
            # An escaped '}' or '/' belongs to the ${} syntax: the backslash is dropped.
            if i < n and pattern[i] in "}/":
                continue
            escaped = pattern[i] if i < n else EOF_RUNE
            i += 1
            if escaped not in ("*", "?", "\\"):
                raise PatternError(f"invalid escape '\\{escaped}'")
            tokens.append(escaped)
        else:
            tokens.append(c)
    return tokens


def _token_regex(token: str | _Wild, greedy: bool) -> str:
    if token is _Wild.STAR:
        return ".*" if greedy else ".*?"
    if token is _Wild.ANY:
        return "."
    assert isinstance(token, str)
    # convertShellPatternToRegex escapes these, and its own escapes (\\* \\? \\\\).
    return "\\" + token if token in _REGEX_SPECIAL or token in "*?\\" else token


@lru_cache(maxsize=512)
def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """convertShellPatternToRegex: ``*`` and ``?`` wildcards, ``\\`` escapes, no ``[]``."""
    body = "".join(_token_regex(token, greedy) for token in _pattern_tokens(pattern))
    return re.compile("^" + body if anchored else body)


class ShellPattern:
    """A compiled shell pattern that matches like Go's regexp (leftmost-first).

    Python's ``re`` backtracks, which takes polynomial time in the number of ``*``
    (minutes for ``${V#*a*a*a*b}`` on a 1000-character value) where Go's RE2 is
    linear. Patterns with few stars use ``re``; the others use ``_StarMatcher``,
    which finds the same match in time linear in the value for each star.
    """

    __slots__ = ("block_lengths", "block_regexes", "greedy", "regex", "use_regex")

    def __init__(self, pattern: str, greedy: bool, anchored: bool) -> None:
        self.regex = _pattern_regex(pattern, greedy, anchored)
        self.greedy = greedy
        # The fixed-width pieces between the stars.
        blocks: list[list[str | _Wild]] = [[]]
        for token in _pattern_tokens(pattern):
            if token is _Wild.STAR:
                blocks.append([])
            else:
                blocks[-1].append(token)
        self.block_regexes = tuple("".join(_token_regex(t, greedy) for t in b) for b in blocks)
        self.block_lengths = tuple(len(b) for b in blocks)
        stars = len(blocks) - 1
        # Backtracking costs about n**stars anchored and n**(stars+1) unanchored.
        self.use_regex = stars <= (1 if anchored else 0)

    def match_end(self, text: str) -> int | None:
        """Where an anchored match at the start of ``text`` ends, or None."""
        if self.use_regex:
            m = self.regex.match(text)
            return None if m is None else m.end()
        return _StarMatcher(self, text).end_from(0)

    def spans(self, text: str) -> Callable[[int], tuple[int, int] | None]:
        """A search function: the leftmost match starting at or after a position."""
        if self.use_regex:
            search = self.regex.search

            def regex_span(pos: int) -> tuple[int, int] | None:
                m = search(text, pos)
                return None if m is None else m.span()

            return regex_span
        matcher = _StarMatcher(self, text)

        def star_span(pos: int) -> tuple[int, int] | None:
            start = matcher.start_from(pos)
            if start is None:
                return None
            end = matcher.end_from(start)
            assert end is not None
            return start, end

        return star_span


@lru_cache(maxsize=512)
def shell_pattern(pattern: str, greedy: bool, anchored: bool) -> ShellPattern:
    return ShellPattern(pattern, greedy, anchored)


class _StarMatcher:
    """Leftmost-first matching of ``B0 .* B1 .* ... Bk`` over one text.

    A backtracking engine (or RE2 in leftmost-first mode) returns, among the matches
    that start leftmost, the one whose star lengths are lexicographically greatest
    (greedy) or least (lazy). So: precompute, for every block i and position p,
    whether blocks i..k can match from p (``.*`` never crosses a newline), then walk
    the stars choosing the farthest (greedy) or nearest (lazy) feasible position.
    """

    __slots__ = ("greedy", "lengths", "newline", "nexts", "prevs")

    def __init__(self, pattern: ShellPattern, text: str) -> None:
        n = len(text)
        self.greedy = pattern.greedy
        # newline[x]: the first newline at or after x, else n; a star from x ends by it.
        newline = [n] * (n + 1)
        upcoming = n
        for x in range(n - 1, -1, -1):
            if text[x] == "\n":
                upcoming = x
            newline[x] = upcoming
        self.newline = newline
        blocks = pattern.block_regexes
        k = len(blocks) - 1
        self.lengths = pattern.block_lengths
        # nexts[i][p]: the least q >= p from which blocks i..k match (n + 1: none);
        # prevs[i][p]: the greatest q <= p (-1: none). Only needed for the greedy walk.
        self.nexts: list[list[int]] = [[]] * (k + 1)
        self.prevs: list[list[int]] = [[]] * (k + 1)
        later: list[int] | None = None
        for i in range(k, -1, -1):
            length = self.lengths[i]
            ok = [False] * (n + 1)
            for m in _block_finder(blocks[i])(text):
                p = m.start()
                if later is not None:
                    x = p + length
                    if later[x] > newline[x]:
                        continue
                ok[p] = True
            nxt = [n + 1] * (n + 2)
            for p in range(n, -1, -1):
                nxt[p] = p if ok[p] else nxt[p + 1]
            self.nexts[i] = nxt
            if self.greedy and i > 0:
                prv = [-1] * (n + 1)
                last = -1
                for p in range(n + 1):
                    if ok[p]:
                        last = p
                    prv[p] = last
                self.prevs[i] = prv
            later = nxt

    def start_from(self, pos: int) -> int | None:
        """The leftmost position >= pos where a match starts, or None."""
        s = self.nexts[0][pos]
        return None if s >= len(self.nexts[0]) - 1 else s

    def end_from(self, start: int) -> int | None:
        """Where the match that starts at ``start`` ends (None: no match there)."""
        if self.nexts[0][start] != start:
            return None
        pos = start + self.lengths[0]
        for i in range(1, len(self.lengths)):
            # The star runs from pos to at most the next newline.
            q = self.prevs[i][self.newline[pos]] if self.greedy else self.nexts[i][pos]
            pos = q + self.lengths[i]
        return pos


@lru_cache(maxsize=256)
def _block_finder(block: str) -> Callable[[str], Iterator[re.Match[str]]]:
    """Every position where a fixed-width block matches, overlapping ones included."""
    return re.compile(f"(?=({block}))").finditer


def as_runes(s: str) -> str:
    """The text Go's rune decoding sees: a byte that is not UTF-8 reads as U+FFFD."""
    return s if SURROGATE.search(s) is None else SURROGATE.sub(EOF_RUNE, s)


def reverse_pattern(pattern: str) -> str:
    """Reverse a pattern but keep each ``\\x`` escape pair in order."""
    out: list[str] = []
    i = 0
    last = len(pattern) - 1
    while i <= last:
        c = pattern[i]
        if c == "\\" and i != last:
            out.append(pattern[i + 1])
            out.append(c)
            i += 2
        else:
            out.append(c)
            i += 1
    out.reverse()
    return "".join(out)


def _go_expand(template: str, match: str) -> str:
    """Regexp.Expand for a regex whose only group is group 0 (no named groups)."""
    out: list[str] = []
    rest = template
    while True:
        dollar = rest.find("$")
        if dollar < 0:
            break
        out.append(rest[:dollar])
        rest = rest[dollar + 1 :]
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        k = 1 if brace else 0
        start = k
        while k < len(rest) and (rest[k] == "_" or rest[k].isalpha() or rest[k].isdecimal()):
            k += 1
        if k == start or (brace and (k >= len(rest) or rest[k] != "}")):
            out.append("$")  # malformed: the '$' is literal text
            continue
        if rest[start:k] == "0":
            out.append(match)
        # Any other name or number refers to a group that does not exist: empty.
        rest = rest[k + 1 if brace else k :]
    out.append(rest)
    return "".join(out)


def go_replace_all(spans: Callable[[int], tuple[int, int] | None], src: str, template: str) -> str:
    """Regexp.ReplaceAllString: unlike re.sub, an empty match right after a match is
    not replaced, and the template is expanded Go's way."""
    expand = "$" in template
    out: list[str] = []
    last_end = 0
    search = 0
    end = len(src)
    while search <= end:
        span = spans(search)
        if span is None:
            break
        a, b = span
        out.append(src[last_end:a])
        if b > last_end or a == 0:
            out.append(_go_expand(template, src[a:b]) if expand else template)
        last_end = b
        search = search + 1 if b <= search else b
    out.append(src[last_end:])
    return "".join(out)


# -- Go's %q ---------------------------------------------------------------------------

_GO_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(s: str) -> str:
    """strconv.Quote, as fmt's %q prints a string in BuildKit's error messages."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0xD800 <= o <= 0xDFFF:
            # Bytes that were not UTF-8 print as \xNN.
            data = ch.encode(
                "utf-8", "surrogateescape" if 0xDC80 <= o <= 0xDCFF else "surrogatepass"
            )
            out.extend(f"\\x{b:02x}" for b in data)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_NAMED_ESCAPES:
            out.append(_GO_NAMED_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)
