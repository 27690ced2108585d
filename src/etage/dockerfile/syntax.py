"""What the Dockerfile parser produces: one node per instruction, before typing.

A `Node` holds exactly what BuildKit's parser keeps for an instruction (keyword as
written, flags, arguments, exec form or not, heredocs, line range), so that tools
can rely on it matching `docker build`. Typed instructions are built from nodes in
`instructions.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etage.dockerfile.gocompat import to_lower


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document attached to RUN, COPY or ADD (`<<EOF` ... `EOF`)."""

    name: str
    content: str
    file_descriptor: int = 0
    expand: bool = True  # False when the delimiter was quoted: no variable expansion
    chomp: bool = False  # `<<-EOF`: leading tabs are stripped from the content


@dataclass(frozen=True, slots=True)
class Node:
    """One instruction as the parser sees it."""

    keyword: str  # as written: "FROM", "from", "OnBuild"...
    flags: tuple[str, ...]  # raw flag words, e.g. ("--from=builder",)
    args: tuple[str, ...]  # arguments, split as BuildKit splits them for this keyword
    json: bool  # exec (JSON array) form
    heredocs: tuple[Heredoc, ...]
    start_line: int  # 1-based, first physical line of the instruction
    end_line: int  # last physical line, heredoc bodies included
    original: str  # the logical line after joining continuations (heredoc bodies excluded)
    comments: tuple[str, ...] = ()  # comment lines right above the instruction
    # For ONBUILD: the trigger instruction, with its own flags. The ONBUILD node's
    # `args`, `json` and `heredocs` are the trigger's, as the official parser reports.
    sub: Node | None = None
    # For ENV and LABEL: "=" for each `key=value` pair, "" for the legacy `key value` form.
    separators: tuple[str, ...] = ()

    @property
    def upper(self) -> str:
        """The keyword as BuildKit dispatches it (strings.ToLower), in upper case.

        Use this, not `keyword.upper()`, to pick the instruction: str.upper() turns
        `ſtopsignal` into STOPSIGNAL and `onbuıld` into ONBUILD, which BuildKit treats
        as unknown instructions, and str.lower() misses `MAİNTAINER`, which it accepts.
        """
        lower = to_lower(self.keyword)
        return lower.upper() if lower.isascii() else self.keyword


@dataclass(frozen=True, slots=True)
class Directive:
    name: str  # lower case: "syntax", "escape" or "check"
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The result of parsing one Dockerfile."""

    filename: str
    lines: tuple[str, ...]  # the physical lines, without line endings (for error display)
    directives: tuple[Directive, ...]
    escape_token: str
    nodes: tuple[Node, ...]
    # Lines where an empty continuation line was found (BuildKit warns: NoEmptyContinuation).
    empty_continuation_lines: tuple[int, ...] = field(default=())

    def directive(self, name: str) -> str | None:
        for d in self.directives:
            if d.name == name:
                return d.value
        return None

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""
