"""Typed instructions: nodes -> frozen dataclasses, with BuildKit's validation.

Each instruction keeps its `Node` (the raw parse) and its location. Values are kept
as written (before variable expansion): expansion depends on the stage's ARG and ENV
state and happens when the plan is built. Errors carry BuildKit's wording.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from etage.dockerfile.suggest import did_you_mean
from etage.dockerfile.syntax import Heredoc, Node
from etage.dockerfile.usage import USAGE
from etage.errors import InstructionError, SourceLocation

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip

VALID_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")


class FlagError(ValueError):
    pass


class HintedError(FlagError):
    """A FlagError whose hint is more useful than the instruction's usage line."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    node: Node
    location: SourceLocation

    @property
    def keyword(self) -> str:
        return self.node.keyword.upper()

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


# ---- flags ------------------------------------------------------------------


class Flags:
    """BuildKit's BFlags: declared flags, parsed from the node's raw flag words."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: set[str] = set()

    def boolean(self, name: str) -> None:
        self.kinds[name] = "bool"
        self.values[name] = "false"

    def string(self, name: str, default: str = "") -> None:
        self.kinds[name] = "string"
        self.values[name] = default

    def strings(self, name: str) -> None:
        self.kinds[name] = "strings"
        self.lists[name] = []

    def parse(self) -> Flags:
        for word in self.words:
            if word == "--":
                return self
            if not word.startswith("--"):
                raise FlagError(f"arg should start with -- : {word}")
            flag_name, has_value, value = word.partition("=")
            name = flag_name[2:]
            kind = self.kinds.get(name)
            if kind is None:
                raise FlagError(f"unknown flag: {flag_name}" + did_you_mean(name, self.kinds))
            if name in self.used and kind != "strings":
                raise FlagError(f"duplicate flag specified: {flag_name}")
            self.used.add(name)
            if kind == "bool":
                if has_value and value == "":
                    raise FlagError(f"missing a value on flag: {flag_name}")
                low = value.lower()
                if low in ("true", ""):
                    self.values[name] = "true"
                elif low == "false":
                    self.values[name] = "false"
                else:
                    raise FlagError(f"expecting boolean value for flag {flag_name}, not: {value}")
            elif not has_value:
                raise FlagError(f"missing a value on flag: {flag_name}")
            elif kind == "string":
                self.values[name] = value
            else:
                self.lists[name].append(value)
        return self

    def get(self, name: str) -> str | None:
        """The value if the flag was given, else None."""
        return self.values[name] if name in self.used else None

    def is_true(self, name: str) -> bool:
        return self.values[name] == "true"

    def optional_bool(self, name: str) -> bool | None:
        return self.values[name] == "true" if name in self.used else None


# ---- helpers -------------------------------------------------------------------


def _json_args(node: Node) -> tuple[str, ...]:
    """handleJSONArgs: exec form as is; shell form joined into one string."""
    if not node.args:
        return ()
    if node.json:
        return node.args
    return (" ".join(node.args),)


def _heredoc_word(word: str) -> tuple[str, bool, bool] | None:
    from etage.dockerfile.lexer import parse_heredoc_word

    try:
        parsed = parse_heredoc_word(word)
    except ValueError:
        return None
    if parsed is None:
        return None
    name, _fd, expand, chomp = parsed
    return name, expand, chomp


_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


def chomp_heredoc(content: str) -> str:
    return _LEADING_TABS.sub("", content)


def _sources_and_dest(
    node: Node, keyword: str
) -> tuple[tuple[str, ...], str, tuple[InlineSource, ...]]:
    *srcs, dest = node.args
    if _heredoc_word(dest) is not None:
        raise FlagError(f"{keyword} cannot accept a heredoc as a destination")
    lookup = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    inline: list[InlineSource] = []
    for src in srcs:
        doc = _heredoc_word(src)
        if doc is None:
            paths.append(src)
            continue
        name, expand, chomp = doc
        data = lookup[name].content if name in lookup else ""
        if chomp:
            data = chomp_heredoc(data)
        inline.append(InlineSource(name, data, expand))
    return tuple(paths), dest, tuple(inline)


_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}  # fmt: skip
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("1m30s", "500ms", "0")."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise FlagError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            raise FlagError(f'time: invalid duration "{text}"')
        unit = m.group(2)
        if unit not in _DURATION_UNITS:
            if not any(ch.isalpha() for ch in unit):
                raise FlagError(f'time: invalid duration "{text}"')
            raise FlagError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[unit]
        pos = m.end()
    return sign * total


def _interval(flags: Flags, name: str) -> float | None:
    value = flags.values[name]
    if value == "":
        return None
    seconds = parse_go_duration(value)
    if seconds == 0:
        return 0.0
    if seconds < 0.001:
        raise FlagError(f'Interval "{name}" cannot be less than 1ms')
    return seconds


# ---- one parser per keyword ------------------------------------------------------

Builder = Callable[[Node, SourceLocation], Instruction]


def _from(node: Node, loc: SourceLocation) -> From:
    args = node.args
    name: str | None = None
    written: str | None = None
    if len(args) == 3 and args[1].lower() == "as":
        written = args[2]
        name = args[2].lower()
        if not VALID_STAGE_NAME.match(name):
            raise HintedError(
                f'invalid name for build stage: "{args[2]}", '
                "name can't start with a number or contain symbols",
                "stage names start with a letter and use only a-z, 0-9, '-', '_' and '.'",
            )
    elif len(args) != 1:
        raise FlagError("FROM requires either one or three arguments")
    flags = Flags(node.flags)
    flags.string("platform")
    flags.parse()
    return From(
        node=node,
        location=loc,
        base=args[0],
        stage_name=name,
        stage_name_as_written=written,
        platform=flags.get("platform"),
    )


def _pairs(node: Node, keyword: str) -> tuple[KeyValue, ...]:
    if not node.args:
        raise FlagError(f"{keyword} requires at least one argument")
    pairs = []
    for i in range(0, len(node.args) - 1, 2):
        key, value = node.args[i], node.args[i + 1]
        if key == "":
            raise FlagError(f"{keyword} names can not be blank")
        legacy = bool(node.separators) and node.separators[i // 2] == ""
        pairs.append(KeyValue(key, value, legacy))
    return tuple(pairs)


def _env(node: Node, loc: SourceLocation) -> Env:
    Flags(node.flags).parse()
    return Env(node=node, location=loc, pairs=_pairs(node, "ENV"))


def _label(node: Node, loc: SourceLocation) -> Label:
    Flags(node.flags).parse()
    return Label(node=node, location=loc, pairs=_pairs(node, "LABEL"))


def _maintainer(node: Node, loc: SourceLocation) -> Maintainer:
    if len(node.args) != 1:
        raise FlagError("MAINTAINER requires exactly one argument")
    Flags(node.flags).parse()
    return Maintainer(node=node, location=loc, maintainer=node.args[0])


def _arg(node: Node, loc: SourceLocation) -> Arg:
    if not node.args:
        raise FlagError("ARG requires at least one argument")
    defs = []
    for word in node.args:
        if "=" in word:
            key, _, value = word.partition("=")
            if key == "":
                raise FlagError("ARG names can not be blank")
            defs.append(ArgDefinition(key, value))
        else:
            defs.append(ArgDefinition(word, None))
    return Arg(node=node, location=loc, args=tuple(defs))


def _copy(node: Node, loc: SourceLocation) -> Copy:
    if len(node.args) < 2:
        raise FlagError(
            "COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    flags = Flags(node.flags)
    flags.string("chown")
    flags.string("from")
    flags.string("chmod")
    flags.boolean("link")
    flags.strings("exclude")
    flags.boolean("parents")
    flags.parse()
    sources, dest, inline = _sources_and_dest(node, "COPY")
    return Copy(
        node=node,
        location=loc,
        sources=sources,
        dest=dest,
        inline=inline,
        from_=flags.get("from") or None,
        chown=flags.get("chown") or None,
        chmod=flags.get("chmod") or None,
        link=flags.is_true("link"),
        parents=flags.is_true("parents"),
        excludes=tuple(flags.lists["exclude"]),
    )


def _add(node: Node, loc: SourceLocation) -> Add:
    if len(node.args) < 2:
        raise FlagError(
            "ADD requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    flags = Flags(node.flags)
    flags.string("chown")
    flags.string("chmod")
    flags.boolean("link")
    flags.boolean("keep-git-dir")
    flags.string("checksum")
    flags.boolean("unpack")
    flags.strings("exclude")
    flags.parse()
    sources, dest, inline = _sources_and_dest(node, "ADD")
    return Add(
        node=node,
        location=loc,
        sources=sources,
        dest=dest,
        inline=inline,
        chown=flags.get("chown") or None,
        chmod=flags.get("chmod") or None,
        link=flags.is_true("link"),
        keep_git_dir=flags.optional_bool("keep-git-dir"),
        checksum=flags.get("checksum") or None,
        unpack=flags.optional_bool("unpack"),
        excludes=tuple(flags.lists["exclude"]),
    )


def mount_from_at_parse_time(spec: str) -> str | None:
    """The `from=` of a --mount value, read as BuildKit reads it before expansion."""
    fields = split_mount_fields(spec)
    found: str | None = None
    for f in fields:
        key, has_value, value = f.partition("=")
        if has_value and key.lower() == "from":
            dollar = value.find("$")
            if dollar != -1 and dollar != len(value) - 1:
                raise FlagError(
                    "'from' doesn't support variable expansion, define alias stage instead"
                )
            found = value
    return found


def split_mount_fields(spec: str) -> list[str]:
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as exc:
        raise FlagError(f"failed to parse csv mounts: {exc}") from None
    return rows[0] if rows else []


def _run(node: Node, loc: SourceLocation) -> Run:
    flags = Flags(node.flags)
    flags.strings("mount")
    flags.string("network", "default")
    flags.string("security", "sandbox")
    flags.strings("device")
    flags.parse()
    network = flags.values["network"]
    if network not in ("default", "none", "host"):
        raise FlagError(f'invalid network mode "{network}"')
    security = flags.values["security"]
    if security not in ("sandbox", "insecure"):
        raise FlagError(f'security "{security}" is not valid')
    mounts = tuple(flags.lists["mount"])
    return Run(
        node=node,
        location=loc,
        command=_json_args(node),
        shell_form=not node.json,
        files=node.heredocs,
        mounts=mounts,
        mount_froms=tuple(mount_from_at_parse_time(m) for m in mounts),
        network=network,
        security=security,
        devices=tuple(flags.lists["device"]),
    )


def _cmd(node: Node, loc: SourceLocation) -> Cmd:
    Flags(node.flags).parse()
    return Cmd(node=node, location=loc, command=_json_args(node), shell_form=not node.json)


def _entrypoint(node: Node, loc: SourceLocation) -> Entrypoint:
    Flags(node.flags).parse()
    return Entrypoint(node=node, location=loc, command=_json_args(node), shell_form=not node.json)


def _shell(node: Node, loc: SourceLocation) -> Shell:
    Flags(node.flags).parse()
    args = _json_args(node)
    if not args:
        raise FlagError("SHELL requires at least one argument")
    if not node.json:
        raise FlagError(f"SHELL requires the arguments to be in JSON form: {node.original}")
    return Shell(node=node, location=loc, shell=args)


def _healthcheck(node: Node, loc: SourceLocation) -> Healthcheck:
    if not node.args:
        raise FlagError("HEALTHCHECK requires at least one argument")
    typ = node.args[0].upper()
    rest = node.args[1:]
    if typ == "NONE":
        if rest:
            raise FlagError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(node=node, location=loc, test=("NONE",))
    flags = Flags(node.flags)
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        flags.string(name)
    flags.parse()
    if typ != "CMD":
        raise FlagError(f'Unknown type "{node.args[0].upper()}" in HEALTHCHECK (try CMD)')
    if not rest:
        raise FlagError("Missing command after HEALTHCHECK CMD")
    command = rest if node.json else (" ".join(rest),)
    test = ("CMD", *command) if node.json else ("CMD-SHELL", *command)
    retries: int | None = None
    if flags.values["retries"] != "":
        text = flags.values["retries"]
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**31) <= int(text) < 2**31:
            raise FlagError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
        retries = int(text)
        if retries < 0:
            raise FlagError(f"--retries cannot be negative ({retries})")
    return Healthcheck(
        node=node,
        location=loc,
        test=test,
        interval=_interval(flags, "interval"),
        timeout=_interval(flags, "timeout"),
        start_period=_interval(flags, "start-period"),
        start_interval=_interval(flags, "start-interval"),
        retries=retries,
    )


def _expose(node: Node, loc: SourceLocation) -> Expose:
    if not node.args:
        raise FlagError("EXPOSE requires at least one argument")
    Flags(node.flags).parse()
    return Expose(node=node, location=loc, ports=node.args)


def _user(node: Node, loc: SourceLocation) -> User:
    if len(node.args) != 1:
        raise FlagError("USER requires exactly one argument")
    Flags(node.flags).parse()
    return User(node=node, location=loc, user=node.args[0])


def _volume(node: Node, loc: SourceLocation) -> Volume:
    if not node.args:
        raise FlagError("VOLUME requires at least one argument")
    Flags(node.flags).parse()
    paths = []
    for arg in node.args:
        v = arg.strip()
        if v == "":
            raise FlagError("VOLUME specified can not be an empty string")
        paths.append(v)
    return Volume(node=node, location=loc, paths=tuple(paths))


def _workdir(node: Node, loc: SourceLocation) -> Workdir:
    if len(node.args) != 1:
        raise FlagError("WORKDIR requires exactly one argument")
    Flags(node.flags).parse()
    return Workdir(node=node, location=loc, path=node.args[0])


def _stopsignal(node: Node, loc: SourceLocation) -> Stopsignal:
    # BuildKit does not parse STOPSIGNAL's flags at all.
    if len(node.args) != 1:
        raise FlagError("STOPSIGNAL requires exactly one argument")
    return Stopsignal(node=node, location=loc, signal=node.args[0])


def _onbuild(node: Node, loc: SourceLocation) -> Onbuild:
    if node.sub is None:
        raise FlagError("ONBUILD requires at least one argument")
    Flags(node.flags).parse()
    trigger_keyword = node.sub.keyword.strip().upper()
    if trigger_keyword == "ONBUILD":
        raise FlagError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_keyword in ("MAINTAINER", "FROM"):
        raise FlagError(f"{trigger_keyword} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    trigger: Instruction | None = None
    error: str | None = None
    try:
        trigger = build_instruction(node.sub, loc.file)
    except InstructionError as exc:
        error = exc.message
    return Onbuild(
        node=node, location=loc, expression=expression, trigger=trigger, trigger_error=error
    )


BUILDERS: dict[str, Builder] = {
    "ADD": _add,
    "ARG": _arg,
    "CMD": _cmd,
    "COPY": _copy,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "FROM": _from,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "SHELL": _shell,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}


def build_instruction(node: Node, filename: str) -> Instruction:
    """Type one node. Raises InstructionError with the node's location."""
    loc = SourceLocation(filename, node.start_line, 1, node.end_line)
    builder = BUILDERS.get(node.keyword.upper())
    if builder is None:
        raise InstructionError(
            f"unknown instruction: {node.keyword}"
            + did_you_mean(node.keyword.upper(), INSTRUCTIONS),
            location=loc,
            hint="instructions are " + ", ".join(INSTRUCTIONS),
        )
    try:
        return builder(node, loc)
    except FlagError as exc:
        keyword = node.keyword.upper()
        message = str(exc)
        if not message.upper().startswith(keyword):
            message = f"{keyword}: {message}"
        hint = exc.hint if isinstance(exc, HintedError) else USAGE.get(keyword)
        raise InstructionError(message, location=loc, hint=hint) from None

