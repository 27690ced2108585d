"""Reading shell commands in RUN instructions well enough to recognise installs and builds.

This is not a shell: it splits a RUN's script into simple commands (on `&&`, `||`,
`;`, `|` and newlines), drops leading `VAR=value` assignments (kept aside) and
wrappers like `sudo` or `env`, and returns the words. Quoting is honoured where the
text can be tokenised; otherwise plain whitespace splitting is used.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from etage.dockerfile import instructions as ins

_SEPARATORS = re.compile(r"&&|\|\||;|\||\n|\(|\)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset(
    {"sudo", "env", "exec", "time", "nice", "nohup", "command", "then", "do", "else"}
)


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    words: tuple[str, ...]
    assignments: tuple[tuple[str, str], ...]  # VAR=value prefixes
    text: str

    @property
    def program(self) -> str:
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    def has(self, *flags: str) -> bool:
        """Whether any of the flags is present (`--flag`, `--flag=x`, or `--flag x`)."""
        for word in self.words[1:]:
            for flag in flags:
                if word == flag or (flag.startswith("-") and word.startswith(flag + "=")):
                    return True
        return False

    def value_of(self, *flags: str) -> str | None:
        words = self.words
        for i, word in enumerate(words[1:], 1):
            for flag in flags:
                if word.startswith(flag + "="):
                    return word[len(flag) + 1 :]
                if word == flag and i + 1 < len(words):
                    return words[i + 1]
        return None

    def positional(self, start: int = 1) -> list[str]:
        return [w for w in self.words[start:] if not w.startswith("-")]


def run_script(run: ins.Run) -> str:
    """The shell text a RUN executes (heredoc bodies included)."""
    parts: list[str] = []
    if run.shell_form:
        parts.extend(run.command)
    elif (
        run.command
        and run.command[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash", "dash")
        and "-c" in run.command
    ):
        i = run.command.index("-c")
        parts.extend(run.command[i + 1 : i + 2])
    else:
        parts.append(" ".join(shlex.quote(w) for w in run.command))
    parts.extend(f.content for f in run.files)
    return "\n".join(parts)


def simple_commands(script: str) -> list[SimpleCommand]:
    script = script.replace("\\\n", " ")
    out: list[SimpleCommand] = []
    for chunk in _SEPARATORS.split(script):
        text = chunk.strip()
        if not text or text.startswith("#"):
            continue
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            words = text.split()
        assignments: list[tuple[str, str]] = []
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _WRAPPERS):
            if _ASSIGNMENT.match(words[0]):
                key, _, value = words[0].partition("=")
                assignments.append((key, value))
            words = words[1:]
        if words:
            out.append(SimpleCommand(tuple(words), tuple(assignments), text))
    return out


def commands_of(run: ins.Run) -> list[SimpleCommand]:
    return simple_commands(run_script(run))
