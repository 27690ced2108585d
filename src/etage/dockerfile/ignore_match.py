"""Matching paths against compiled .dockerignore patterns, as BuildKit's walker does.

``Compiled`` is one pattern turned into a fast matcher (see ``ignore_patterns``), plus
what a walker needs to prune the patterns that cannot match below a directory.
``match_path`` is patternmatcher's ``MatchesUsingParentResults``; ``DirectoryMatch`` is
the same decision made incrementally, one directory at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from etage.dockerfile.ignore_patterns import (
    EXACT,
    PREFIX,
    SUFFIX,
    BadPattern,
    IgnorePattern,
    go_regexp_source,
    pattern_error,
)
from etage.dockerfile.ignore_regexp import regexp_error, translate_go_regexp

__all__ = ["Compiled", "DirectoryMatch", "match_path"]

_Matcher = Callable[[str], object]


class Compiled:
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
        kind, go_src = go_regexp_source(text)
        self.kind = kind
        # lit: every path the pattern matches starts with it; depth: the number of "/"
        # in every path it matches, when that is fixed (None otherwise).
        self.depth: int | None = None
        self.lit = ""
        self.match: _Matcher
        if kind == EXACT:
            self.match = text.__eq__
            self.lit = text
            self.depth = text.count("/")
        elif kind == PREFIX:
            prefix = text[:-2]
            self.match = lambda path: path.startswith(prefix)
            self.lit = prefix
        elif kind == SUFFIX:
            suffix = text[2:]
            bare = suffix[1:] if suffix.startswith("/") else None
            if bare is None:
                self.match = lambda path: path.endswith(suffix)
            else:
                self.match = lambda path: path.endswith(suffix) or path == bare
        else:
            try:
                regex = re.compile(translate_go_regexp(go_src), re.ASCII)
            except BadPattern as exc:
                self.match = _failing_matcher(pattern, source, source_line, exc)
                return
            except re.error as exc:
                bad = regexp_error(str(exc))
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
        if self.kind == EXACT:
            return self.text.startswith(dir_prefix) and "/" not in self.text[len(dir_prefix) :]
        depth = self.depth
        return (depth is None or depth == child_depth) and self._compatible(dir_prefix)

    def can_match_within(self, dir_prefix: str, child_depth: int) -> bool:
        """Can this pattern match some path anywhere below the directory?"""
        if self.kind == EXACT:
            return self.text.startswith(dir_prefix)
        depth = self.depth
        return (depth is None or depth >= child_depth) and self._compatible(dir_prefix)


def _failing_matcher(
    pattern: IgnorePattern, source: str, source_line: str, exc: BadPattern
) -> _Matcher:
    def fail(path: str) -> object:
        raise pattern_error(
            pattern.text,
            pattern.exclusion,
            source=source,
            line=pattern.line,
            source_line=source_line,
            exc=exc,
        )

    return fail


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
        patterns: tuple[Compiled, ...],
        candidates: tuple[Compiled, ...],
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


def match_path(compiled: tuple[Compiled, ...], path: str, parent_vector: int) -> tuple[int, bool]:
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
