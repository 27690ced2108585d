"""The scanner of BuildKit's shell lexer: one word expanded and split, character by character.

``Scan`` is ``frontend/dockerfile/shell/lex.go``'s ``processStopOn`` and friends: quotes,
escapes, heredoc markers and ``$`` expansions with every ``${name<op>word}`` modifier.
``ShellLexer`` (in ``etage.dockerfile.shell``) holds the options and runs a ``Scan``
when its fast paths do not apply; the quirks kept are listed there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Protocol

from etage.dockerfile.shell_patterns import (
    BOM,
    EOF_RUNE,
    SURROGATE,
    PatternError,
    ShellPattern,
    as_runes,
    go_quote,
    go_replace_all,
    reverse_pattern,
    shell_pattern,
)
from etage.errors import ExpansionError

__all__ = ["GO_SPACE_CLASS", "SIMPLE_REF", "Finder", "LexerOptions", "Scan"]

# unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property.
GO_SPACE_CLASS = (
    "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_SPACE_RUN = re.compile(f"[{GO_SPACE_CLASS}]+")
_split_spaces = _SPACE_RUN.split
_find_space_or_bad_byte = re.compile(f"[{GO_SPACE_CLASS}\\ud800-\\udfff]").search
_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    map(chr, range(0x2000, 0x200B))
)

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_ASCII_NAME = re.compile("[A-Za-z0-9_]*")
# $NAME not followed by a character that could continue it (the possessive *+ keeps the
# name whole; a non-ASCII letter or digit might continue it), or ${NAME}.
SIMPLE_REF = re.compile(
    "\\$(?:([A-Za-z_][A-Za-z0-9_]*+)(?![^\\x00-\\x7f])|\\{([A-Za-z_][A-Za-z0-9_]*)\\})"
)

Finder = Callable[[str, int], re.Match[str] | None]


class LexerOptions(Protocol):
    """What a scan reads from its ShellLexer: the options, and the finders built from them."""

    @property
    def escape_token(self) -> str: ...
    @property
    def raw_quotes(self) -> bool: ...
    @property
    def raw_escapes(self) -> bool: ...
    @property
    def skip_unset_env(self) -> bool: ...
    @property
    def _find_top_or_space(self) -> Finder: ...
    @property
    def _find_brace(self) -> Finder: ...
    @property
    def _find_slash(self) -> Finder: ...
    @property
    def _find_dq(self) -> Finder: ...


class _Fail(Exception):
    """A lexing error before it is wrapped: the message and the scanner position."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Scan:
    """The state of one expansion: the text, a position, the names seen."""

    __slots__ = (
        "env",
        "esc",
        "lex",
        "matched",
        "n",
        "s",
        "source",
        "unmatched",
        "wbuf",
        "words",
    )

    def __init__(self, lex: LexerOptions, source: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.source = source
        s = source
        if SURROGATE.search(s) is not None:
            s = SURROGATE.sub(EOF_RUNE, s)
        self.s = s
        self.n = len(s)
        self.env = env
        self.esc = lex.escape_token
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        # The word being built (BuildKit shares one buffer between nesting levels)
        # and the finished words of the top level.
        self.wbuf: list[str] = []
        self.words: list[str] = []

    def run(self) -> str:
        start = 1 if self.s.startswith(BOM) else 0
        try:
            result = self.top(start)
        except _Fail as e:
            raise ExpansionError(
                f"failed to process {go_quote(self.source)}: {e.message}"
            ) from None
        return result

    # -- the scanner -------------------------------------------------------------------
    #
    # BuildKit's processStopOn serves both levels; here the top level, which also
    # splits words, and the nested words of ${name<op>word} are two loops.

    def top(self, i: int) -> str:
        """Process the whole word, splitting it into ``self.words`` on the way.

        Literal whitespace is a token of its own here (it ends a word); expansion
        results split on their whitespace; quoted and escaped text never splits.
        """
        s = self.s
        n = self.n
        raw = self.lex.raw_escapes
        find = self.lex._find_top_or_space
        wbuf = self.wbuf
        words = self.words
        out: list[str] = []
        while i < n:
            m = find(s, i)
            if m is None:
                chunk = s[i:]
                out.append(chunk)
                wbuf.append(chunk)
                break
            j = m.start()
            if j > i:
                chunk = s[i:j]
                out.append(chunk)
                wbuf.append(chunk)
            c = s[j]
            if c in _GO_SPACES:
                i = m.end()
                out.append(s[j:i])
                if wbuf:
                    words.append("".join(wbuf))
                    wbuf.clear()
                continue
            if c == "$":
                value, i = self.dollar(j)
                if value:
                    out.append(value)
                    if _find_space_or_bad_byte(value) is None:
                        wbuf.append(value)
                    else:
                        self.add_split(value)
                continue
            if c == "<":
                value, i = self.heredoc(j)
            elif c == "'":
                value, i = self.single_quote(j)
            elif c == '"':
                value, i = self.double_quote(j, raw)
            else:  # the escape token
                if raw:
                    out.append(c)
                    wbuf.append(c)
                if j + 1 >= n:  # a trailing escape is dropped
                    break
                value = s[j + 1]
                i = j + 2
            if value:
                out.append(value)
                wbuf.append(value)
        if wbuf:
            words.append("".join(wbuf))
            wbuf.clear()
        return "".join(out)

    def add_split(self, text: str) -> None:
        """Add an expansion result that contains whitespace, which ends words.

        Go splits it rune by rune, so a byte that is not UTF-8 becomes U+FFFD here
        (though not in the result).
        """
        if SURROGATE.search(text) is not None:
            text = SURROGATE.sub(EOF_RUNE, text)
        parts = _split_spaces(text)
        wbuf = self.wbuf
        if parts[0]:
            wbuf.append(parts[0])
        for part in parts[1:]:
            if wbuf:
                self.words.append("".join(wbuf))
                wbuf.clear()
            if part:
                wbuf.append(part)

    def stop_on(self, i: int, stop: str, raw: bool) -> tuple[str, int]:
        """Process a nested word from ``i`` up to ``stop`` ('}' or '/'), consumed."""
        s = self.s
        n = self.n
        find = self.lex._find_brace if stop == "}" else self.lex._find_slash
        # BuildKit's nested call resets the word buffer it shares with the top level,
        # which loses the part of the current word before this expansion.
        self.wbuf.clear()
        out: list[str] = []
        while i < n:
            m = find(s, i)
            if m is None:
                break
            j = m.start()
            if j > i:
                out.append(s[i:j])
            c = s[j]
            if c == stop:
                return "".join(out), j + 1
            if c == "$":
                value, i = self.dollar(j)
            elif c == "<":
                value, i = self.heredoc(j)
            elif c == "'":
                value, i = self.single_quote(j)
            elif c == '"':
                value, i = self.double_quote(j, raw)
            else:  # the escape token
                if raw:
                    out.append(c)
                if j + 1 >= n:
                    break
                value = s[j + 1]
                i = j + 2
            out.append(value)
        raise _Fail("unexpected end of statement while looking for matching " + stop, n)

    def single_quote(self, i: int) -> tuple[str, int]:
        end = self.s.find("'", i + 1)
        if end < 0:
            raise _Fail(
                "unexpected end of statement while looking for matching single-quote", self.n
            )
        if self.lex.raw_quotes:
            return self.s[i : end + 1], end + 1
        return self.s[i + 1 : end], end + 1

    def double_quote(self, i: int, raw: bool) -> tuple[str, int]:
        s = self.s
        n = self.n
        esc = self.esc
        find = self.lex._find_dq
        raw_quotes = self.lex.raw_quotes
        out = ['"'] if raw_quotes else []
        i += 1
        while True:
            m = find(s, i)
            if m is None:
                raise _Fail(
                    "unexpected end of statement while looking for matching double-quote", n
                )
            j = m.start()
            if j > i:
                out.append(s[i:j])
            c = s[j]
            if c == '"':
                if raw_quotes:
                    out.append(c)
                return "".join(out), j + 1
            if c == "$":
                value, i = self.dollar(j)
                out.append(value)
                continue
            # The escape token: it escapes only '"', '$' and itself, else it stays.
            if raw:
                out.append(c)
            i = j + 1
            if i < n:
                nxt = s[i]
                if nxt in ('"', "$", esc):
                    out.append(nxt)
                    i += 1
                else:
                    out.append(c)

    def heredoc(self, i: int) -> tuple[str, int]:
        s = self.s
        n = self.n
        if i + 1 >= n or s[i + 1] != "<":
            return "<", i + 1
        j = i + 2
        while j < n and s[j] in " \t\r":
            j += 1
        return "<<" + s[i + 2 : j], j

    def name(self, i: int) -> tuple[str, int]:
        s = self.s
        n = self.n
        if i >= n:
            return "", i
        c = s[i]
        if c.isdecimal():
            j = i + 1
            while j < n and s[j].isdecimal():
                j += 1
            return s[i:j], j
        if c in _SPECIAL_PARAMS:
            return c, i + 1
        j = i
        while True:
            m = _ASCII_NAME.match(s, j)
            assert m is not None  # the pattern matches the empty string
            j = m.end()
            if j < n and s[j] > "\x7f" and (s[j].isalpha() or s[j].isdecimal()):
                j += 1
                continue
            return s[i:j], j

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
        else:
            self.matched.add(name)
        return value

    def dollar(self, i: int) -> tuple[str, int]:
        """Expand the ``$`` at ``i``; return the value and the position after it."""
        s = self.s
        simple = SIMPLE_REF.match(s, i)
        if simple is not None:  # the common $NAME or ${NAME}, ASCII only
            braced = simple.lastindex == 2
            name = simple.group(2 if braced else 1)
            end = simple.end()
            value = self.env.get(name)
            if value is not None:
                self.matched.add(name)
                return value, end
            self.unmatched.add(name)
            if self.lex.skip_unset_env:
                return ("${" + name + "}" if braced else "$" + name), end
            return "", end
        n = self.n
        i += 1
        if i >= n or s[i] != "{":
            name, i = self.name(i)
            if not name:
                return "$", i
            value = self.lookup(name)
            if value is None:
                return ("$" + name if self.lex.skip_unset_env else ""), i
            return value, i

        i += 1
        if i >= n:
            raise _Fail("syntax error: missing '}'", i)
        if s[i] in "{}:":
            raise _Fail("syntax error: bad substitution", i)
        name, i = self.name(i)
        if i >= n:
            raise _Fail(f"unsupported modifier ({EOF_RUNE}) in substitution", i)
        op = s[i]
        i += 1
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return ("${" + name + "}" if self.lex.skip_unset_env else ""), i
            return value, i
        if op == "/":
            return self.replace(name, i)

        modifier = op
        null_is_unset = op == ":"
        if null_is_unset:
            if i < n:
                op = s[i]
                i += 1
            else:
                op = EOF_RUNE  # the scanner's EOF
            modifier += op
        elif op not in "+-?#%":
            raise _Fail(f"unsupported modifier ({modifier}) in substitution", i)

        trims = op in ("#", "%")
        if null_is_unset and trims:
            raise _Fail(f"unsupported modifier ({modifier}) in substitution", i)
        try:
            word, i = self.stop_on(i, "}", trims)
        except _Fail as e:
            if e.pos >= n:
                raise _Fail("syntax error: missing '}'", e.pos) from None
            raise

        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + modifier + word + "}", i

        if op == "-":
            if value is None or (null_is_unset and not value):
                return word, i
            return value, i
        if op == "+":
            if value is None or (null_is_unset and not value):
                return "", i
            return word, i
        if op == "?":
            if value is None:
                raise _Fail(f"{name}: {word or 'is not allowed to be unset'}", i)
            if null_is_unset and not value:
                raise _Fail(f"{name}: {word or 'is not allowed to be empty'}", i)
            return value, i
        if trims:
            # '#'/'%' trim the shortest match, '##'/'%%' the longest.
            greedy = word.startswith(op)
            if greedy:
                word = word[1:]
            if op == "%":
                return _trim_suffix(word, value or "", greedy, i), i
            return _trim_prefix(word, value or "", greedy, i), i
        raise _Fail(f"unsupported modifier ({modifier}) in substitution", i)

    def replace(self, name: str, i: int) -> tuple[str, int]:
        """``${name/pattern/replacement}`` and ``${name//pattern/replacement}``."""
        n = self.n
        replace_all = i < n and self.s[i] == "/"
        if replace_all:
            i += 1
        try:
            pattern, i = self.stop_on(i, "/", True)
        except _Fail as e:
            if e.pos >= n:
                raise _Fail("syntax error: missing '/' in ${}", e.pos) from None
            raise
        try:
            replacement, i = self.stop_on(i, "}", True)
        except _Fail as e:
            if e.pos >= n:
                raise _Fail("syntax error: missing '}'", e.pos) from None
            raise

        value = self.lookup(name)
        if value is None:
            if self.lex.skip_unset_env:
                return "${" + name + "/" + pattern + "/" + replacement + "}", i
            value = ""
        spans = _compile_pattern(pattern, True, False, i).spans(as_runes(value))
        if replace_all:
            return go_replace_all(spans, value, replacement), i
        span = spans(0)
        if span is not None:
            value = value[: span[0]] + replacement + value[span[1] :]
        return value, i


def _compile_pattern(pattern: str, greedy: bool, anchored: bool, pos: int) -> ShellPattern:
    try:
        return shell_pattern(as_runes(pattern), greedy, anchored)
    except PatternError as e:
        raise _Fail(f"invalid pattern ({pattern}) in substitution: {e}", pos) from None


def _trim_prefix(pattern: str, value: str, greedy: bool, pos: int) -> str:
    # Go matches runes (bad bytes as U+FFFD) but slices the original string.
    end = _compile_pattern(pattern, greedy, True, pos).match_end(as_runes(value))
    return value if end is None else value[end:]


def _trim_suffix(pattern: str, value: str, greedy: bool, pos: int) -> str:
    # A regex finds leftmost matches only: reverse both sides to trim a suffix. Go
    # reverses rune slices, which turns bad bytes into U+FFFD for good.
    reversed_pattern = reverse_pattern(as_runes(pattern))
    return _trim_prefix(reversed_pattern, as_runes(value)[::-1], greedy, pos)[::-1]
