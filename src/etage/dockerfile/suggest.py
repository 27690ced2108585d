"""'Did you mean ...?' suggestions for misspelt names (stages, flags, instructions)."""

from __future__ import annotations

from collections.abc import Iterable


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(value: str, options: Iterable[str], *, case_sensitive: bool = False) -> str | None:
    """The option closest to `value` if it is close enough to be a likely typo."""
    best: str | None = None
    best_distance = 0
    probe = value if case_sensitive else value.lower()
    for option in options:
        if not option:
            continue
        candidate = option if case_sensitive else option.lower()
        if candidate == probe:
            continue
        distance = levenshtein(probe, candidate)
        # At most 2 edits, and not more than about half the word.
        close = distance <= 2 and distance * 2 <= max(len(probe), 1) + 1
        if close and (best is None or distance < best_distance):
            best, best_distance = option, distance
    return best


def did_you_mean(value: str, options: Iterable[str], *, case_sensitive: bool = False) -> str:
    """A sentence fragment to append to a message, or "" when nothing is close."""
    match = closest(value, options, case_sensitive=case_sensitive)
    return f' (did you mean "{match}"?)' if match else ""
