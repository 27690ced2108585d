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

The scanner is ``shell_scan``; the shell patterns of ``#``, ``%`` and ``/``, Go's
``ReplaceAllString`` and ``%q`` are ``shell_patterns``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from etage.dockerfile.shell_patterns import BOM
from etage.dockerfile.shell_scan import GO_SPACE_CLASS, SIMPLE_REF, Finder, Scan

__all__ = ["ShellLexer", "WordResult"]

# Characters that a word without them passes through unchanged (given the escape
# token): the U+001C..U+001F separators only change how Python's str.split() splits,
# surrogates stand for bytes Go would replace.
_PLAIN_BREAKERS = "\\x1c-\\x1f\\ud800-\\udfff"
_PY_SPLIT_UNSAFE = re.compile(f"[{_PLAIN_BREAKERS}]").search

_NO_NAMES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class WordResult:
    """The outcome of expanding one word."""

    result: str
    words: tuple[str, ...]
    matched: frozenset[str]  # variable names that were looked up and found
    unmatched: frozenset[str]  # looked up and not found (for the UndefinedVar lint)


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

        def finder(chars: str) -> Finder:
            return re.compile("[" + re.escape(chars) + "]").search

        self._find_top_or_space = re.compile(
            "[" + GO_SPACE_CLASS + "]+|[" + re.escape(special) + "]"
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
        if self._needs_scanner(word) is None and not word.startswith(BOM):
            if "$" not in word:
                return WordResult(word, tuple(word.split()), _NO_NAMES, _NO_NAMES)
            simple = self._expand_simple(word, env)
            if simple is not None:
                return simple
        scan = Scan(self, word, env)
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
        if self._needs_scanner(word) is None and not word.startswith(BOM):
            if "$" not in word:
                return word.split()
            simple = self._expand_simple(word, env)
            if simple is not None:
                return list(simple.words)
        scan = Scan(self, word, env)
        scan.run()
        return scan.words

    def _expand_simple(self, word: str, env: Mapping[str, str]) -> WordResult | None:
        """The common case: no quotes, escapes or '<', and every '$' starts a plain
        ``$NAME`` or ``${NAME}``. Literal text and values then split alike, so the
        words are the result split on whitespace. None when the case does not apply.
        """
        parts = SIMPLE_REF.split(word)  # text, bare name, braced name, text, ...
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
