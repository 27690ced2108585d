"""Dockerfile text -> nodes: lines, continuations, comments, directives, heredocs.

This is the first half of BuildKit's parser (`parser.Parse`): it reads physical
lines, joins continuation lines (comment lines and empty lines inside a continuation
are skipped), honours the `escape` directive, attaches heredoc bodies, and hands
each logical line to the keyword's argument parser. Line numbers are kept for every
instruction so errors and findings can point at the source.
"""

from __future__ import annotations

import re

from etage.dockerfile.directives import DirectiveError, DirectiveScanner
from etage.dockerfile.gocompat import regexp_split, to_lower, trim_left_space, trim_space
from etage.dockerfile.line_parsers import (
    DISPATCH,
    NOT_STRING_ARRAY,
    WHITESPACE,
    ArgumentError,
    extract_builder_flags,
    parse_ignore,
)
from etage.dockerfile.shell import ShellLexer
from etage.dockerfile.syntax import Directive, Heredoc, Node, ParsedFile
from etage.dockerfile.usage import USAGE
from etage.errors import DockerfileSyntaxError, ExpansionError, SourceLocation

# bufio.Scanner's limit in the Go parser: longer lines are an error there too.
MAX_LINE_BYTES = 64 * 1024

HEREDOC_KEYWORDS = frozenset({"add", "copy", "run"})

# Go: `^(\d*)<<(-?)\s*([^<]*)$` (current BuildKit allows spaces after <<).
# The spaces are matched possessively (`*+`): giving some back can never help
# `[^<]*` reach the end, and backtracking over them was quadratic (14 s for a 60 KB
# word); RE2 is linear.
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*+([^<]*)\Z")

# The heredoc scanners always use backslash, whatever the escape directive (as BuildKit).
# Lexers hold only configuration, so module-level instances are safe to share.
_HEREDOC_LINE_LEXER = ShellLexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
_HEREDOC_NAME_LEXER = ShellLexer("\\", skip_unset_env=True)
_HEREDOC_RAW_NAME_LEXER = ShellLexer("\\", raw_quotes=True, skip_unset_env=True)

_CONTINUATION: dict[str, re.Pattern[str]] = {
    "\\": re.compile(r"([^\\])\\[ \t]*\Z|\A\\[ \t]*\Z", re.DOTALL),
    "`": re.compile(r"([^`])`[ \t]*\Z|\A`[ \t]*\Z", re.DOTALL),
}


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return trim_left_space(line).startswith("#")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Returns (line without the continuation char, is_end_of_line)."""
    if escape not in line:
        return line, True
    m = _CONTINUATION[escape].search(line)
    if m is None:
        return line, True
    return line[: m.start()] + (m.group(1) or "") + line[m.end() :], False


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        # bufio.Scanner reads the byte-order mark as part of the first line, so it
        # counts towards that line's size limit (BuildKit strips it afterwards).
        self.bom_bytes = 0
        if text.startswith("\ufeff"):
            text = text[1:]
            self.bom_bytes = 3
        # Lines as bufio.ScanLines cuts them: only "\n" ends a line ("\r" stays).
        self.final_newline = text.endswith("\n")
        self.raw_lines = text.split("\n")
        if self.final_newline or text == "":
            self.raw_lines.pop()
        self.pos = 0  # index of the next physical line to read
        self.escape = "\\"
        self.directives = DirectiveScanner()

    def error(self, message: str, line: int, hint: str | None = None) -> DockerfileSyntaxError:
        text = self.raw_lines[line - 1] if 1 <= line <= len(self.raw_lines) else None
        return DockerfileSyntaxError(
            message,
            location=SourceLocation(self.filename, max(line, 1)),
            hint=hint,
            source_line=_trim_newline(text) if text is not None else None,
        )

    def next_line(self) -> str | None:
        if self.pos >= len(self.raw_lines):
            return None
        line = self.raw_lines[self.pos]
        self.pos += 1
        extra = self.bom_bytes if self.pos == 1 else 0
        if (len(line) + extra) * 4 >= MAX_LINE_BYTES and (
            len(line.encode("utf-8", "surrogateescape")) + extra >= MAX_LINE_BYTES
        ):
            raise self.error(
                f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES - 1}",
                self.pos,
                hint="split the instruction over several lines with a continuation character",
            )
        return line

    def process_line(self, line: str, strip_left: bool) -> str:
        """Trim the newline (and leading space), feed the directive scanner, drop comments."""
        token = _trim_newline(line)
        if strip_left:
            token = trim_left_space(token)
        try:
            found = self.directives.feed(token)
        except DirectiveError as exc:
            raise self.error(
                str(exc), self.pos, hint="keep one of the repeated directive lines"
            ) from None
        if found is not None and found[0] == "escape":
            if found[1] not in ("\\", "`"):
                raise self.error(
                    f"invalid escape token '{found[1]}' does not match ` or \\",
                    self.pos,
                    hint="use `# escape=\\` (the default) or `# escape=``",
                )
            self.escape = found[1]
        if _is_comment(token):
            return ""
        return token

    def parse(self) -> ParsedFile:
        nodes: list[Node] = []
        comments: list[str] = []
        empty_continuations: list[int] = []
        while (raw := self.next_line()) is not None:
            if _is_comment(raw):
                # BuildKit drops the first character of the raw line, then trims.
                comment = trim_space(raw[1:])
                if comment == "":
                    comments = []
                else:
                    comments.append(comment)
            before = len(self.directives.found)
            line = self.process_line(raw, strip_left=True)
            if len(self.directives.found) > before and comments:
                comments.pop()  # a directive is not a comment
            start_line = self.pos
            line, end_of_line = _trim_continuation(line, self.escape)
            if end_of_line and line == "":
                continue
            parts = [line]
            has_empty = False
            while not end_of_line:
                cont = self.next_line()
                if cont is None:
                    break
                processed = self.process_line(cont, strip_left=False)
                if _is_comment(cont):
                    continue
                if trim_left_space(_trim_newline(processed)) == "":
                    has_empty = True
                    continue
                processed, end_of_line = _trim_continuation(processed, self.escape)
                parts.append(processed)
            logical = "".join(parts)
            if has_empty:
                empty_continuations.append(self.pos)
            node = self.node_from_line(logical, start_line, tuple(comments))
            heredocs: list[Heredoc] = []
            if "<<" in logical and self.can_contain_heredoc(node):
                heredocs = self.read_heredocs(logical, start_line)
            nodes.append(_finish(node, heredocs, self.pos))
            comments = []
        if not nodes:
            raise self.error(
                "file with no instructions",
                self.pos,
                hint="a Dockerfile needs at least a FROM instruction",
            )
        return ParsedFile(
            filename=self.filename,
            lines=tuple(_trim_newline(line) for line in self.raw_lines),
            directives=tuple(Directive(n, v, line) for n, v, line in self.directives.found),
            escape_token=self.escape,
            nodes=tuple(nodes),
            empty_continuation_lines=tuple(empty_continuations),
        )

    def node_from_line(self, line: str, start_line: int, comments: tuple[str, ...]) -> Node:
        # ONBUILD takes an instruction, which may be ONBUILD again. Split the whole
        # chain first and build the nodes from the innermost out: BuildKit recurses,
        # but a long `ONBUILD ONBUILD ...` line must not exhaust Python's stack.
        chain: list[tuple[str, str, list[str], str]] = []
        while True:
            cmdline = _split_command(line)
            keyword = cmdline[0]
            flags: list[str] = []
            rest = ""
            if len(cmdline) == 2:
                rest, flags = extract_builder_flags(cmdline[1], self.escape)
            rest = trim_space(rest)
            chain.append((line, keyword, flags, rest))
            if to_lower(keyword) != "onbuild" or rest == "":
                break
            line = rest
        node: Node | None = None
        for depth in range(len(chain) - 1, -1, -1):
            node = self._node(chain[depth], start_line, comments if depth == 0 else (), node)
        assert node is not None
        return node

    def _node(
        self,
        split: tuple[str, str, list[str], str],
        start_line: int,
        comments: tuple[str, ...],
        sub: Node | None,
    ) -> Node:
        """One node from (line, keyword, flags, rest); `sub` is an ONBUILD's trigger."""
        line, keyword, flags, rest = split
        lower = to_lower(keyword)  # strings.ToLower, not str.lower()
        separators: tuple[str, ...] = ()
        try:
            if lower == "onbuild":
                args: tuple[str, ...] = ()
                is_json = False
                if sub is not None:
                    if to_lower(sub.keyword) != "onbuild":
                        args, is_json = sub.args, sub.json
                    elif sub.sub is not None:
                        # ONBUILD ONBUILD x: the official parser shows one empty value
                        # (the typed layer rejects it with BuildKit's message).
                        args = ("",)
            else:
                parser = DISPATCH.get(lower, parse_ignore)
                args, is_json, separators = parser(rest, self.escape, keyword.upper())
        except ArgumentError as exc:
            hint = USAGE.get(keyword.upper())
            if str(exc) == NOT_STRING_ARRAY:
                hint = 'quote every element of the JSON array, e.g. ["node", "server.js", "8080"]'
            raise self.error(str(exc), self.pos, hint=hint) from None
        return Node(
            keyword=keyword,
            flags=tuple(flags),
            args=args,
            json=is_json,
            heredocs=(),
            start_line=start_line,
            end_line=start_line,
            original=line,
            comments=comments,
            sub=sub,
            separators=separators,
        )

    @staticmethod
    def can_contain_heredoc(node: Node) -> bool:
        target = node.sub if to_lower(node.keyword) == "onbuild" and node.sub else node
        return to_lower(target.keyword) in HEREDOC_KEYWORDS and not target.json

    def read_heredocs(self, line: str, start_line: int) -> list[Heredoc]:
        docs: list[Heredoc] = []
        try:
            specs = heredocs_from_line(line)
        except ArgumentError as exc:
            raise self.error(str(exc), start_line) from None
        for spec in specs:
            name, fd, expand, chomp = spec
            content: list[str] = []
            terminated = False
            while (raw := self.next_line()) is not None:
                candidate = _trim_newline(raw)
                if chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == name:
                    terminated = True
                    break
                last = self.pos == len(self.raw_lines) and not self.final_newline
                content.append(raw if last else raw + "\n")
            if not terminated:
                raise self.error(
                    "unterminated heredoc",
                    start_line,
                    hint=f"end the here-document with a line holding only {name!r}",
                )
            docs.append(Heredoc(name, "".join(content), fd, expand, chomp))
        return docs


def _split_command(line: str) -> list[str]:
    return regexp_split(WHITESPACE, trim_space(line), 2)


def _finish(node: Node, heredocs: list[Heredoc], end_line: int) -> Node:
    """The node with its heredocs and last line (built once: this is the hot path)."""
    docs = tuple(heredocs)
    sub = node.sub
    if sub is not None:
        sub = Node(
            sub.keyword, sub.flags, sub.args, sub.json, docs or sub.heredocs, sub.start_line,
            end_line, sub.original, sub.comments, sub.sub, sub.separators,
        )  # fmt: skip
    return Node(
        node.keyword, node.flags, node.args, node.json, docs, node.start_line, end_line,
        node.original, node.comments, sub, node.separators,
    )  # fmt: skip


def parse_heredoc_word(word: str) -> tuple[str, int, bool, bool] | None:
    """A word like `<<EOF`, `<<-"EOF"` or `3<<EOF` -> (name, fd, expand, chomp)."""
    m = _HEREDOC.match(word)
    if m is None:
        return None
    rest = m.group(3)
    if rest == "":
        return None

    # Lex the delimiter with and without quote removal: if they differ, part of
    # it was quoted and the body must not be expanded.
    words = _HEREDOC_NAME_LEXER.process_words(rest, {})
    if len(words) != 1:
        return None
    raw_words = _HEREDOC_RAW_NAME_LEXER.process_words(rest, {})
    if len(raw_words) != len(words):
        raise ArgumentError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    expand = name.count("'") + name.count('"') == raw_words[0].count("'") + raw_words[0].count('"')
    digits = m.group(1)
    # strconv.ParseUint with its error ignored: an overflow gives the largest uint64
    # (and int() refuses over 4300 digits).
    significant = digits.lstrip("0") or "0"
    fd = 2**64 - 1 if len(significant) > 20 else min(int(significant), 2**64 - 1)
    return name, fd, expand, m.group(2) == "-"


def heredocs_from_line(line: str) -> list[tuple[str, int, bool, bool]]:
    lexer = _HEREDOC_LINE_LEXER
    try:
        words = lexer.process_words(line, {})
    except ExpansionError:
        return []
    except RecursionError:
        # The shell lexer recurses into nested ${a:-${b:-...}}; Go does not run out
        # of stack there. Better a syntax error than a crash.
        raise ArgumentError("${...} expressions nested too deeply to look for heredocs") from None
    docs = []
    for word in words:
        try:
            doc = parse_heredoc_word(word)
        except ExpansionError as exc:
            raise ArgumentError(str(exc)) from None
        except RecursionError:
            raise ArgumentError(f"heredoc delimiter nested too deeply: {word[:40]}...") from None
        if doc is not None:
            docs.append(doc)
    return docs


def parse_text(text: str, filename: str = "Dockerfile") -> ParsedFile:
    """Parse Dockerfile text into nodes. Raises DockerfileSyntaxError."""
    return _Parser(text, filename).parse()
