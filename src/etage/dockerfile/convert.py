"""Nodes -> typed instructions, with BuildKit's validation and error wording.

One function per keyword, as BuildKit's instructions/parse.go has: each checks the
argument count, declares and parses the keyword's flags, and builds the dataclass.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from etage.dockerfile.flags import (
    FlagError,
    Flags,
    HintedError,
    mount_from_at_parse_time,
    parse_go_duration,
)
from etage.dockerfile.instructions import (
    INSTRUCTIONS,
    VALID_STAGE_NAME,
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    InlineSource,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from etage.dockerfile.suggest import did_you_mean
from etage.dockerfile.syntax import Node
from etage.dockerfile.usage import USAGE
from etage.errors import InstructionError, SourceLocation


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
    trigger_keyword = node.sub.upper
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
    builder = BUILDERS.get(node.upper)
    if builder is None:
        raise InstructionError(
            f"unknown instruction: {node.keyword}" + did_you_mean(node.upper, INSTRUCTIONS),
            location=loc,
            hint="instructions are " + ", ".join(INSTRUCTIONS),
        )
    try:
        return builder(node, loc)
    except FlagError as exc:
        keyword = node.upper
        message = str(exc)
        if not message.upper().startswith(keyword):
            message = f"{keyword}: {message}"
        hint = exc.hint if isinstance(exc, HintedError) else USAGE.get(keyword)
        raise InstructionError(message, location=loc, hint=hint) from None
