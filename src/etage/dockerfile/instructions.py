"""Typed instructions: one frozen dataclass per Dockerfile instruction.

Each instruction keeps its `Node` (the raw parse) and its location. Values are kept
as written (before variable expansion): expansion depends on the stage's ARG and ENV
state and happens when the plan is built. `convert.py` builds them from nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from etage.dockerfile.syntax import Heredoc, Node
from etage.errors import SourceLocation

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip

VALID_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    node: Node
    location: SourceLocation

    @property
    def keyword(self) -> str:
        return self.node.upper

    @property
    def line(self) -> int:
        return self.node.start_line

    @property
    def end_line(self) -> int:
        return self.node.end_line


@dataclass(frozen=True, slots=True, kw_only=True)
class From(Instruction):
    base: str  # as written, before ARG expansion
    stage_name: str | None  # lower-cased, as BuildKit stores it
    stage_name_as_written: str | None
    platform: str | None


@dataclass(frozen=True, slots=True)
class ArgDefinition:
    key: str
    default: str | None  # None: declared without a value (`ARG NAME`)


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg(Instruction):
    args: tuple[ArgDefinition, ...]


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str
    legacy: bool = False  # `ENV key value` instead of `ENV key=value`


@dataclass(frozen=True, slots=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintainer(Instruction):
    maintainer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Run(Instruction):
    command: tuple[str, ...]  # one string in shell form, the argv in exec form
    shell_form: bool
    files: tuple[Heredoc, ...]  # heredoc bodies
    mounts: tuple[str, ...]  # raw --mount values (parsed with expansion by the plan)
    mount_froms: tuple[str | None, ...]  # the from= of each mount, as written
    network: str
    security: str
    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InlineSource:
    """A heredoc used as a COPY/ADD source: `COPY <<EOF /dest`."""

    name: str
    data: str
    expand: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy(Instruction):
    sources: tuple[str, ...]
    dest: str
    inline: tuple[InlineSource, ...] = ()
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Add(Instruction):
    sources: tuple[str, ...]
    dest: str
    inline: tuple[InlineSource, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    keep_git_dir: bool | None = None
    checksum: str | None = None
    unpack: bool | None = None
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cmd(Instruction):
    command: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrypoint(Instruction):
    command: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck(Instruction):
    test: tuple[str, ...]  # ("NONE",) or ("CMD", argv...) or ("CMD-SHELL", command)
    interval: float | None = None  # seconds
    timeout: float | None = None
    start_period: float | None = None
    start_interval: float | None = None
    retries: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopsignal(Instruction):
    signal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Onbuild(Instruction):
    expression: str  # the trigger as text, stored in the image config
    trigger: Instruction | None = None
    trigger_error: str | None = field(default=None)  # BuildKit reports it in the child build
