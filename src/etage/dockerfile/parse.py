"""parse_dockerfile(text) -> Dockerfile: global ARGs and stages of typed instructions."""

from __future__ import annotations

from dataclasses import dataclass

from etage.dockerfile.convert import build_instruction
from etage.dockerfile.instructions import Arg, From, Instruction
from etage.dockerfile.lexer import parse_text
from etage.dockerfile.syntax import ParsedFile
from etage.errors import DockerfileError, DockerfileSyntaxError, SourceLocation


@dataclass(frozen=True, slots=True)
class Stage:
    """One FROM and the instructions that follow it, up to the next FROM."""

    index: int
    from_: From
    instructions: tuple[Instruction, ...]  # after the FROM, in file order (ONBUILD included)

    @property
    def name(self) -> str | None:
        return self.from_.stage_name

    @property
    def label(self) -> str:
        """How plans and messages refer to the stage: its name, or its index."""
        return self.name if self.name is not None else str(self.index)

    @property
    def all_instructions(self) -> tuple[Instruction, ...]:
        return (self.from_, *self.instructions)


@dataclass(frozen=True, slots=True)
class Dockerfile:
    filename: str
    parsed: ParsedFile
    global_args: tuple[Arg, ...]  # ARG instructions before the first FROM
    stages: tuple[Stage, ...]

    @property
    def escape_token(self) -> str:
        return self.parsed.escape_token

    def source_line(self, line: int) -> str:
        return self.parsed.line_text(line)


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse and type a whole Dockerfile. Raises DockerfileError subclasses."""
    if text == "":
        raise DockerfileSyntaxError(
            "the Dockerfile cannot be empty",
            location=SourceLocation(filename, 1),
            hint="start with a FROM instruction, e.g. `FROM debian:bookworm-slim`",
        )
    parsed = parse_text(text, filename)
    global_args: list[Arg] = []
    stages: list[Stage] = []
    current: From | None = None
    body: list[Instruction] = []
    for node in parsed.nodes:
        try:
            instruction = build_instruction(node, filename)
        except DockerfileError as exc:
            raise exc.with_location(
                SourceLocation(filename, node.start_line), parsed.line_text(node.start_line)
            ) from None
        if isinstance(instruction, From):
            if current is not None:
                stages.append(Stage(len(stages), current, tuple(body)))
            current, body = instruction, []
            continue
        if current is None:
            if isinstance(instruction, Arg):
                global_args.append(instruction)
                continue
            raise DockerfileError(
                f"{instruction.keyword} before the first FROM: no build stage in current context",
                location=instruction.location,
                source_line=parsed.line_text(node.start_line),
                hint="every instruction belongs to a stage; only ARG may come before the "
                "first FROM",
            )
        body.append(instruction)
    if current is None:
        first = parsed.nodes[0]
        raise DockerfileError(
            "dockerfile contains no stages to build",
            location=SourceLocation(filename, first.start_line),
            source_line=parsed.line_text(first.start_line),
            hint="add a FROM instruction, e.g. `FROM debian:bookworm-slim`",
        )
    stages.append(Stage(len(stages), current, tuple(body)))
    return Dockerfile(filename, parsed, tuple(global_args), tuple(stages))
