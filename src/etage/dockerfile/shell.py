"""BuildKit's Dockerfile shell lexer: word splitting and ``$VAR`` expansion.

This reproduces ``frontend/dockerfile/shell/lex.go`` of moby/buildkit, quirks included,
because a Dockerfile must expand the same way under etage as under ``docker build``.
The behaviour that is easy to get wrong, and is deliberately kept:

* Characters are Go runes: a byte-order mark (U+FEFF) at the very start of a word is
  dropped (``text/scanner`` skips it), and a byte that was not UTF-8 (a lone surrogate
  here, as ``surrogateescape`` decoding makes) becomes U+FFFD.
* Whitespace for word splitting is Go's ``unicode.IsSpace``, not ``str.isspace``
  (the ASCII separators U+001C..U+001F are not spaces in Go).
* Names are Go letters, Go digits (category Nd only) and ``_``; a name that starts
  with a digit is all digits (``$10x`` is ``$10`` then ``x``); ``@*#?-$!0`` are
  one-character special parameters.
* ``${name`` at the end of the input reports ``unsupported modifier (\\ufffd)``: Go
  turns the scanner's EOF into U+FFFD when it formats the modifier.
* ``#``, ``%`` and ``/`` keep escape characters in their pattern (and ``/`` in its
  replacement) so that ``\\*`` can reach the pattern compiler; ``-``, ``+`` and ``?``
  do not.
* ``${v//p/r}`` replaces with Go's ``Regexp.ReplaceAllString``: ``$0`` and ``${0}`` in
  the (expanded) replacement stand for the match, other ``$name`` references are
  empty, ``$$`` is ``$``; empty matches next to a previous match are not replaced.
  ``${v/p/r}`` (first match only) splices the replacement in literally.
* ``${v%p}`` trims the shortest suffix by reversing the value and the pattern and
  trimming a prefix, so an error message shows the reversed pattern.
* In BuildKit every nested ``${v<op>word}`` resets the buffer of the word being split,
  so ``ProcessWords("ab${x:-c}d")`` gives ``["cd"]``. ``process_words`` does the same.
* With ``skip_unset_env``, an unset ``${v//p/r}`` is written back as ``${v/p/r}``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from etage.errors import ExpansionError

__all__ = ["ShellLexer", "WordResult"]

# unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property.
_GO_SPACE_CLASS = (
    "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_SPACE_RUN = re.compile(f"[{_GO_SPACE_CLASS}]+")
_split_spaces = _SPACE_RUN.split
_find_space_or_bad_byte = re.compile(f"[{_GO_SPACE_CLASS}\\ud800-\\udfff]").search
_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    map(chr, range(0x2000, 0x200B))
)

# Characters that a word without them passes through unchanged (given the escape
# token): the U+001C..U+001F separators only change how Python's str.split() splits,
# surrogates stand for bytes Go would replace.
_PLAIN_BREAKERS = "\\x1c-\\x1f\\ud800-\\udfff"
_SURROGATE = re.compile("[\\ud800-\\udfff]")
_PY_SPLIT_UNSAFE = re.compile(f"[{_PLAIN_BREAKERS}]").search

_BOM = "\ufeff"
# What Go prints for string(rune(scanner.EOF)) and for %c of it.
_EOF_RUNE = "\ufffd"
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_ASCII_NAME = re.compile("[A-Za-z0-9_]*")
# $NAME not followed by a character that could continue it (the possessive *+ keeps the
# name whole; a non-ASCII letter or digit might continue it), or ${NAME}.
_SIMPLE_REF = re.compile(
    "\\$(?:([A-Za-z_][A-Za-z0-9_]*+)(?![^\\x00-\\x7f])|\\{([A-Za-z_][A-Za-z0-9_]*)\\})"
)
_NO_NAMES: frozenset[str] = frozenset()

_Finder = Callable[[str, int], re.Match[str] | None]


@dataclass(frozen=True, slots=True)
class WordResult:
    """The outcome of expanding one word."""

    result: str
    words: tuple[str, ...]
    matched: frozenset[str]  # variable names that were looked up and found
    unmatched: frozenset[str]  # looked up and not found (for the UndefinedVar lint)


class _Fail(Exception):
    """A lexing error before it is wrapped: the message and the scanner position."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class ShellLexer:
    """Expands Dockerfile words exactly as BuildKit's ``shell.Lex`` does.

    An instance holds only configuration, so it may be shared between threads.
    """

    __slots__ = (
        "_find_brace",
        "_find_dq",
        "_find_slash",
        "_find_top_or_space",
        "_needs_scanner",
        "escape_token",
        "raw_escapes",
        "raw_quotes",
        "skip_process_quotes",
        "skip_unset_env",
    )

    def __init__(
        self,
        escape_token: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        if len(escape_token) != 1:
            raise ValueError(f"escape token must be one character, not {escape_token!r}")
        self.escape_token = escape_token
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

        quotes = "" if skip_process_quotes else "'\""
        special = "$<" + quotes + escape_token

        def finder(chars: str) -> _Finder:
            return re.compile("[" + re.escape(chars) + "]").search

        self._find_top_or_space = re.compile(
            "[" + _GO_SPACE_CLASS + "]+|[" + re.escape(special) + "]"
        ).search
        self._find_brace = finder(special + "}")
        self._find_slash = finder(special + "/")
        self._find_dq = finder('"$' + escape_token)
        self._needs_scanner = re.compile(
            "[" + re.escape("<'\"" + escape_token) + _PLAIN_BREAKERS + "]"
        ).search

    def __repr__(self) -> str:
        return (
            f"ShellLexer({self.escape_token!r}, raw_quotes={self.raw_quotes}, "
            f"raw_escapes={self.raw_escapes}, skip_process_quotes={self.skip_process_quotes}, "
            f"skip_unset_env={self.skip_unset_env})"
        )

    def process_word(self, word: str, env: Mapping[str, str]) -> WordResult:
        """Expand ``word`` (BuildKit's ``ProcessWordWithMatches``).

        ``result`` keeps the spaces between words; ``words`` is the same text split
        as ``process_words`` would split it.
        """
        if self._needs_scanner(word) is None and not word.startswith(_BOM):
            if "$" not in word:
                return WordResult(word, tuple(word.split()), _NO_NAMES, _NO_NAMES)
            simple = self._expand_simple(word, env)
            if simple is not None:
                return simple
        scan = _Scan(self, word, env)
        result = scan.run()
        return WordResult(
            result,
            tuple(scan.words),
            frozenset(scan.matched) if scan.matched else _NO_NAMES,
            frozenset(scan.unmatched) if scan.unmatched else _NO_NAMES,
        )

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split it into words (BuildKit's ``ProcessWords``).

        Splitting happens after expansion, on unquoted, unescaped Go whitespace.
        """
        if self._needs_scanner(word) is None and not word.startswith(_BOM):
            if "$" not in word:
                return word.split()
            simple = self._expand_simple(word, env)
            if simple is not None:
                return list(simple.words)
        scan = _Scan(self, word, env)
        scan.run()
        return scan.words

    def _expand_simple(self, word: str, env: Mapping[str, str]) -> WordResult | None:
        """The common case: no quotes, escapes or '<', and every '$' starts a plain
        ``$NAME`` or ``${NAME}``. Literal text and values then split alike, so the
        words are the result split on whitespace. None when the case does not apply.
        """
        parts = _SIMPLE_REF.split(word)  # text, bare name, braced name, text, ...
        if word.count("$") * 3 != len(parts) - 1:
            return None
        out = [parts[0]]
        matched: set[str] = set()
        unmatched: set[str] = set()
        for k in range(1, len(parts), 3):
            bare = parts[k]
            name = bare if bare is not None else parts[k + 1]
            value = env.get(name)
            if value is not None:
                matched.add(name)
                out.append(value)
            else:
                unmatched.add(name)
                if self.skip_unset_env:
                    out.append("$" + name if bare is not None else "${" + name + "}")
            out.append(parts[k + 2])
        result = "".join(out)
        if _PY_SPLIT_UNSAFE(result) is not None:
            return None  # a value holds characters str.split() or Go treats apart
        return WordResult(
            result,
            tuple(result.split()),
            frozenset(matched) if matched else _NO_NAMES,
            frozenset(unmatched) if unmatched else _NO_NAMES,
        )


class _Scan:
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

    def __init__(self, lex: ShellLexer, source: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.source = source
        s = source
        if _SURROGATE.search(s) is not None:
            s = _SURROGATE.sub(_EOF_RUNE, s)
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
        start = 1 if self.s.startswith(_BOM) else 0
        try:
            result = self.top(start)
        except _Fail as e:
            raise ExpansionError(
                f"failed to process {_go_quote(self.source)}: {e.message}"
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
        if _SURROGATE.search(text) is not None:
            text = _SURROGATE.sub(_EOF_RUNE, text)
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
        simple = _SIMPLE_REF.match(s, i)
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
            raise _Fail(f"unsupported modifier ({_EOF_RUNE}) in substitution", i)
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
                op = _EOF_RUNE  # the scanner's EOF
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
        spans = _compile_pattern(pattern, True, False, i).spans(_as_runes(value))
        if replace_all:
            return _go_replace_all(spans, value, replacement), i
        span = spans(0)
        if span is not None:
            value = value[: span[0]] + replacement + value[span[1] :]
        return value, i


# -- shell patterns --------------------------------------------------------------------


class _PatternError(Exception):
    pass


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


class _Wild(enum.Enum):
    STAR = "*"  # any run of characters but a newline
    ANY = "?"  # any one character but a newline


def _pattern_tokens(pattern: str) -> list[str | _Wild]:
    """The tokens of a shell pattern: wildcards, and characters to match literally.

    Raises _PatternError for a bad escape, with Go's message.
    """
    tokens: list[str | _Wild] = []
    # A fresh Go scanner reads the pattern, so a leading BOM is skipped there too.
    i = 1 if pattern.startswith(_BOM) else 0
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
            escaped = pattern[i] if i < n else _EOF_RUNE
            i += 1
            if escaped not in ("*", "?", "\\"):
                raise _PatternError(f"invalid escape '\\{escaped}'")
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


class _ShellPattern:
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
def _shell_pattern(pattern: str, greedy: bool, anchored: bool) -> _ShellPattern:
    return _ShellPattern(pattern, greedy, anchored)


class _StarMatcher:
    """Leftmost-first matching of ``B0 .* B1 .* ... Bk`` over one text.

    A backtracking engine (or RE2 in leftmost-first mode) returns, among the matches
    that start leftmost, the one whose star lengths are lexicographically greatest
    (greedy) or least (lazy). So: precompute, for every block i and position p,
    whether blocks i..k can match from p (``.*`` never crosses a newline), then walk
    the stars choosing the farthest (greedy) or nearest (lazy) feasible position.
    """

    __slots__ = ("greedy", "lengths", "newline", "nexts", "prevs")

    def __init__(self, pattern: _ShellPattern, text: str) -> None:
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


def _as_runes(s: str) -> str:
    """The text Go's rune decoding sees: a byte that is not UTF-8 reads as U+FFFD."""
    return s if _SURROGATE.search(s) is None else _SURROGATE.sub(_EOF_RUNE, s)


def _compile_pattern(pattern: str, greedy: bool, anchored: bool, pos: int) -> _ShellPattern:
    try:
        return _shell_pattern(_as_runes(pattern), greedy, anchored)
    except _PatternError as e:
        raise _Fail(f"invalid pattern ({pattern}) in substitution: {e}", pos) from None


def _trim_prefix(pattern: str, value: str, greedy: bool, pos: int) -> str:
    # Go matches runes (bad bytes as U+FFFD) but slices the original string.
    end = _compile_pattern(pattern, greedy, True, pos).match_end(_as_runes(value))
    return value if end is None else value[end:]


def _reverse_pattern(pattern: str) -> str:
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


def _trim_suffix(pattern: str, value: str, greedy: bool, pos: int) -> str:
    # A regex finds leftmost matches only: reverse both sides to trim a suffix. Go
    # reverses rune slices, which turns bad bytes into U+FFFD for good.
    reversed_pattern = _reverse_pattern(_as_runes(pattern))
    return _trim_prefix(reversed_pattern, _as_runes(value)[::-1], greedy, pos)[::-1]


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


def _go_replace_all(spans: Callable[[int], tuple[int, int] | None], src: str, template: str) -> str:
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


def _go_quote(s: str) -> str:
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
