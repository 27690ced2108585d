"""The fixes BuildKit's build checks suggest, and BuildKit's suggestion search.

Each finding of `etage.checks.buildkit` carries a concrete fix: the corrected line where
one exists, sometimes followed by " — " and a short note, otherwise a sentence. The
helpers here build those lines (a FROM with some parts changed, a shell-form command in
exec form, a port without its host part...) and find the name a typo probably meant, as
BuildKit's `util/suggest` does. They only read the Dockerfile; they emit nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable

from etage.checks.context import CheckInput
from etage.dockerfile import instructions as ins
from etage.dockerfile.suggest import levenshtein

__all__ = [
    "PORT_PROTOCOLS",
    "buildkit_suggest",
    "dquote",
    "exec_form_fix",
    "fixed_port",
    "has_unquoted_space",
    "instruction_text",
    "keyword_like",
    "port_parts",
    "rebuilt_from",
    "rename_var",
]


def buildkit_suggest(value: str, options: Iterable[str]) -> str:
    """util/suggest.Search, case-sensitive (Linux): the closest option under 3 edits.

    An exact match means there is nothing to suggest. Ties go to the earlier option.
    """
    match = ""
    best = 3
    for option in options:
        if option == value:
            return ""
        distance = levenshtein(value, option)
        if distance < best:
            match, best = option, distance
    return match


def keyword_like(written: str, keyword: str) -> str:
    """`keyword` in the case the author used for `written` (lower if they wrote lower)."""
    return keyword.lower() if written == written.lower() else keyword.upper()


def dquote(value: str, escape: str) -> str:
    """A double-quoted Dockerfile word whose expansion is exactly `value`."""
    out = value.replace(escape, escape + escape).replace('"', escape + '"')
    return '"' + out.replace("$", escape + "$") + '"'


def has_unquoted_space(value: str, escape: str) -> bool:
    quote_char = ""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == escape and quote_char != "'":
            i += 2
            continue
        if quote_char:
            if ch == quote_char:
                quote_char = ""
        elif ch in "'\"":
            quote_char = ch
        elif ch.isspace():
            return True
        i += 1
    return False


def rename_var(text: str, old: str, new: str) -> str:
    """Replace references to $old / ${old...} in `text` with `new`."""
    return re.sub(
        r"\$(\{?)" + re.escape(old) + r"(?![A-Za-z0-9_])", lambda m: "$" + m.group(1) + new, text
    )


def rebuilt_from(
    f: ins.From,
    *,
    name: str | None = None,
    as_word: str | None = None,
    drop_platform: bool = False,
) -> str:
    """The FROM instruction rebuilt on one line, with some parts changed."""
    node = f.node
    parts = [node.keyword]
    parts += [w for w in node.flags if not (drop_platform and w.startswith("--platform"))]
    parts.append(f.base)
    written_name = name if name is not None else f.stage_name_as_written
    if written_name is not None:
        written_as = (
            as_word if as_word is not None else (node.args[1] if len(node.args) == 3 else "AS")
        )
        parts += [written_as, written_name]
    return " ".join(parts)


def instruction_text(ci: CheckInput, instruction: ins.Instruction) -> str:
    node = instruction.node
    if node.start_line == node.end_line and not node.heredocs:
        return ci.dockerfile.source_line(node.start_line).strip()
    return node.original.strip()


_SHELL_META = frozenset("$`\\;&|<>()*?[]{}~#\n")
_SHELL_OPERATORS = frozenset(";&|<>()\n`")


def exec_form_fix(keyword: str, command: str) -> str:
    """The exec (JSON) form of a shell-form CMD/ENTRYPOINT, with a note when a shell stays."""
    if not command.strip():
        return f'Write the command in exec form: {keyword} ["<program>", "<arg>", ...]'
    words: list[str] | None = None
    if not any(c in _SHELL_META for c in command):
        try:
            words = shlex.split(command, posix=True)
        except ValueError:
            words = None
    if words and "=" not in words[0]:
        return f"{keyword} {json.dumps(words, ensure_ascii=False)}"
    first = command.split(maxsplit=1)[0] if command.split() else ""
    if not any(c in _SHELL_OPERATORS for c in command) and "=" not in first:
        line = command if first == "exec" else "exec " + command
        return (
            f"{keyword} {json.dumps(['sh', '-c', line], ensure_ascii=False)} — the shell expands "
            "the command, then `exec` replaces it with the program, which then receives signals"
        )
    return (
        f"{keyword} {json.dumps(['sh', '-c', command], ensure_ascii=False)} — a shell still runs "
        "as PID 1 and does not forward signals: move the commands into a script that ends with "
        "`exec <program>` and use that script in exec form"
    )


def port_parts(raw: str) -> tuple[str, str, str]:
    """convert_expose.go splitParts: (host IP, host port, container port[/proto])."""
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


PORT_PROTOCOLS = ("", "tcp", "udp", "sctp")


def fixed_port(word: str) -> str:
    _ip, _host, container = port_parts(word)
    port, sep, proto = container.partition("/")
    return port + (sep + proto.lower() if sep else "")
