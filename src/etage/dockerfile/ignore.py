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
  translated to an equivalent Python one (see ``ignore_regexp``) so that even the
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

The pattern syntax and compile step are in ``ignore_patterns``, the Go regexp
translation in ``ignore_regexp`` and the matching in ``ignore_match``; this module reads
the file and answers questions about paths.
"""

from __future__ import annotations

from etage.dockerfile.ignore_match import Compiled, DirectoryMatch, match_path
from etage.dockerfile.ignore_patterns import (
    BadPattern,
    IgnorePattern,
    check_pattern,
    pattern_error,
)

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
            check_pattern(pattern, source, raw)
            compiled.append(Compiled(index, pattern, source, raw))
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
                    raise pattern_error(
                        "",
                        True,
                        source=source,
                        line=number,
                        source_line=original,
                        exc=BadPattern(
                            'illegal exclusion pattern "!"',
                            "write the path to re-include after the '!', e.g. '!README.md'",
                        ),
                    )
                line = line[1:]
            pattern = IgnorePattern(line, exclusion, number)
            check_pattern(pattern, source, original)
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
                hit = match_path(compiled, parent, vector)
                if len(cache) >= 65536:
                    cache.clear()
                cache[parent] = hit
            vector = hit[0]
            end = path.find("/", end + 1)
        return match_path(compiled, path, vector)


def _normalize(path: str) -> str:
    norm = go_clean(path)
    if norm.startswith("/"):
        norm = norm.lstrip("/")
    return "" if norm == "." else norm
