"""BuildKit's Dockerfile build checks (`docker build --check`), with the same names and meaning.

Each rule fires where BuildKit's frontend fires it, and its message is BuildKit's, word
for word (moby/buildkit `frontend/dockerfile/linter/ruleset.go`). BuildKit runs its
rules at three moments, and so does this module:

* while typing instructions (`instructions/parse.go`): MaintainerDeprecated,
  StageNameCasing, FromAsCasing, InvalidDefinitionDescription;
* over the whole file (`dockerfile2llb/validations.go`, `convert.go`):
  NoEmptyContinuation, DuplicateStageName, ReservedStageName,
  ConsistentInstructionCasing, InvalidDefaultArgInFrom, and, per FROM line,
  UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed;
* while dispatching each stage's instructions in order (`convert.go`): UndefinedVar,
  LegacyKeyValueFormat, SecretsUsedInArgOrEnv, WorkdirRelativePath,
  JSONArgsRecommended, MultipleInstructionsDisallowed, ExposeProtoCasing,
  ExposeInvalidFormat, CopyIgnoredFile. ONBUILD triggers inherited from a stage base
  run first and are reported on the FROM line of the stage that runs them, as in
  BuildKit.

Like `docker build --check` without --target, every stage is linted. Everything found
is reported, experimental rules included: the `# check=` directive, `# check=skip=`
comments above instructions and the experimental filter are applied by the runner.
Every finding carries a concrete fix: the corrected line where one exists, sometimes
followed by " — " and a short note, otherwise a sentence.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from etage.checks.context import CheckInput
from etage.checks.model import Finding
from etage.dockerfile import instructions as ins
from etage.dockerfile.gocompat import quote
from etage.dockerfile.ignore import go_clean
from etage.dockerfile.parse import Stage
from etage.dockerfile.shell import ShellLexer, WordResult
from etage.dockerfile.suggest import closest, levenshtein
from etage.errors import EtageError, ExpansionError
from etage.plan.evaluate import Evaluator, StageEnv, initial_env
from etage.plan.graph import default_args
from etage.plan.model import SCRATCH, PlannedStage
from etage.platforms import Platform
from etage.reference import is_valid_reference

__all__ = ["buildkit_suggest", "check_buildkit", "exec_form_fix"]

RESERVED_STAGE_NAMES = ("context", "scratch")

# validations.go getSecretsRegex: a secret word as the whole key or as its first or
# last "_"-separated part, unless an allow word is there too.
_SECRET_WORDS = (
    "apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd",
    "secret", "token",
)  # fmt: skip
_SECRET_DENY = re.compile(r"(?i)(?:_|^)(?:" + "|".join(_SECRET_WORDS) + r")(?:_|$)")
_SECRET_ALLOW = re.compile(r"(?i)(?:_|^)(?:public|file|version)(?:_|$)")

# reference.ParseNormalizedNamed refuses a bare 64-hex-digit name (it looks like an ID).
_HEX_ID = re.compile(r"[a-f0-9]{64}\Z")


def check_buildkit(ci: CheckInput) -> Iterator[Finding]:
    """BuildKit's build checks over every stage of `ci.plan`, in file order, without repeats."""
    seen: set[tuple[str, int, str]] = set()
    findings = sorted(_Linter(ci).run(), key=lambda f: (f.line, f.rule.id, f.message))
    for f in findings:
        key = (f.rule.id, f.line, f.message)
        if key not in seen:  # e.g. two ONBUILD triggers reported on the same FROM line
            seen.add(key)
            yield f


# ---------------------------------------------------------------------------------------
# Helpers: BuildKit's suggestion search, fixes


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


def _keyword_like(written: str, keyword: str) -> str:
    """`keyword` in the case the author used for `written` (lower if they wrote lower)."""
    return keyword.lower() if written == written.lower() else keyword.upper()


def _dquote(value: str, escape: str) -> str:
    """A double-quoted Dockerfile word whose expansion is exactly `value`."""
    out = value.replace(escape, escape + escape).replace('"', escape + '"')
    return '"' + out.replace("$", escape + "$") + '"'


def _has_unquoted_space(value: str, escape: str) -> bool:
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


def _rename_var(text: str, old: str, new: str) -> str:
    """Replace references to $old / ${old...} in `text` with `new`."""
    return re.sub(
        r"\$(\{?)" + re.escape(old) + r"(?![A-Za-z0-9_])", lambda m: "$" + m.group(1) + new, text
    )


def _from_line(
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


def _instruction_text(ci: CheckInput, instruction: ins.Instruction) -> str:
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


def _port_parts(raw: str) -> tuple[str, str, str]:
    """convert_expose.go splitParts: (host IP, host port, container port[/proto])."""
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


_PORT_PROTOCOLS = ("", "tcp", "udp", "sctp")


def _fixed_port(word: str) -> str:
    _ip, _host, container = _port_parts(word)
    port, sep, proto = container.partition("/")
    return port + (sep + proto.lower() if sep else "")


# ---------------------------------------------------------------------------------------
# The linter


@dataclass(slots=True)
class _StageState:
    """What BuildKit's dispatchState carries over from a stage to the stages built FROM it."""

    env: StageEnv
    shell_set: bool = False  # image config Shell is set (SHELL instruction)
    workdir_set: bool = False  # a WORKDIR of this Dockerfile ran in this stage or its bases

    def copy(self) -> _StageState:
        return _StageState(self.env.copy(), self.shell_set, self.workdir_set)


@dataclass(slots=True)
class _Used:
    """instructionTracker: where a CMD/ENTRYPOINT/HEALTHCHECK was last set in the stage."""

    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Step:
    """One instruction being dispatched: its stage, where it is reported, its expansion."""

    ps: PlannedStage
    state: _StageState
    used: _Used
    line: int  # where BuildKit reports it: its own line, or the FROM line for a trigger
    words: tuple[str, ...] | None  # its arguments after expansion (None if that failed)


class _Linter:
    def __init__(self, ci: CheckInput) -> None:
        self.ci = ci
        self.df = ci.dockerfile
        self.plan = ci.plan
        self.escape = self.df.escape_token
        self.lexer = ShellLexer(self.escape)
        self.build_args = dict(self.plan.build_args)
        self.out: list[Finding] = []

    # -- emitting ------------------------------------------------------------------------

    def emit(
        self,
        rule_id: str,
        line: int,
        message: str,
        fix: str,
        *,
        stage: str | None = None,
    ) -> None:
        self.out.append(self.ci.finding(rule_id, line, message, fix=fix, stage=stage))

    def run(self) -> list[Finding]:
        self.empty_continuations()
        self.parse_time()
        self.stage_names()
        self.command_casing()
        self.default_args_in_from()
        self.from_lines()
        self.dispatch()
        return self.out

    # -- global ARGs as BuildKit evaluates them for FROM lines ---------------------------------

    def target_name(self) -> str:
        if self.ci.explicit_target:
            return self.plan.target_stage.name or ""
        return self.df.stages[-1].name or ""

    def meta_env(
        self, meta_build_args: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]] | None:
        """defaultArgs + buildMetaArgs: the env FROM lines expand with, and declared names.

        The automatic platform ARGs take their --build-arg overrides in both cases;
        `meta_build_args` are the values given to the ARGs declared before the first FROM.
        """
        env = default_args(self.plan.build_platform, self.plan.target_platform, self.target_name())
        for key in list(env):
            if key in self.build_args:
                env[key] = self.build_args[key]
        declared: list[str] = []
        for arg in self.df.global_args:
            for d in arg.args:
                declared.append(d.key)
                if d.key in meta_build_args:
                    env[d.key] = meta_build_args[d.key]
                elif d.default is not None:
                    try:
                        env[d.key] = self.lexer.process_word(d.default, env).result
                    except ExpansionError:
                        return None
        return env, declared

    # -- rules run while parsing -----------------------------------------------------------

    def empty_continuations(self) -> None:
        parsed = self.df.parsed
        for line in parsed.empty_continuation_lines:
            node = next((n for n in parsed.nodes if n.start_line <= line <= n.end_line), None)
            empty = (
                [
                    str(n)
                    for n in range(node.start_line + 1, line + 1)
                    if parsed.line_text(n).strip() == ""
                ]
                if node is not None
                else []
            )
            if node is None or not empty:
                fix = f"Delete the empty lines inside the instruction that ends at line {line}."
            else:
                which = "line " + empty[0] if len(empty) == 1 else "lines " + ", ".join(empty)
                fix = (
                    f"Delete the empty {which} inside the {node.keyword.upper()} instruction "
                    f"that starts at line {node.start_line} (or end the instruction before it)."
                )
            self.emit("NoEmptyContinuation", line, "Empty continuation line", fix)

    def parse_time(self) -> None:
        for arg in self.df.global_args:
            self.definition_description(arg, "ARG", [d.key for d in arg.args], None)
        for stage in self.df.stages:
            self.from_parse_time(stage)
            for instruction in stage.instructions:
                if isinstance(instruction, ins.Maintainer):
                    self.maintainer(instruction, stage)
                elif isinstance(instruction, ins.Arg):
                    self.definition_description(
                        instruction, "ARG", [d.key for d in instruction.args], stage.label
                    )

    def maintainer(self, m: ins.Maintainer, stage: Stage) -> None:
        keyword = _keyword_like(m.node.keyword, "LABEL")
        fix = f"{keyword} org.opencontainers.image.authors={_dquote(m.maintainer, self.escape)}"
        self.emit(
            "MaintainerDeprecated",
            m.line,
            "Maintainer instruction is deprecated in favor of using label",
            fix,
            stage=stage.label,
        )

    def from_parse_time(self, stage: Stage) -> None:
        f = stage.from_
        node = f.node
        if len(node.args) == 3:
            written = node.args[2]
            if written != written.lower():
                self.emit(
                    "StageNameCasing",
                    f.line,
                    f"Stage name '{written}' should be lowercase",
                    _from_line(f, name=written.lower()),
                    stage=stage.label,
                )
            keyword, as_word = node.keyword, node.args[1]
            if keyword in (keyword.lower(), keyword.upper()):
                wanted = as_word.lower() if keyword == keyword.lower() else as_word.upper()
                if as_word != wanted:
                    self.emit(
                        "FromAsCasing",
                        f.line,
                        f"'{as_word}' and '{keyword}' keywords' casing do not match",
                        _from_line(f, as_word=wanted),
                        stage=stage.label,
                    )
        if f.stage_name:
            self.definition_description(f, "FROM", [f.stage_name], stage.label)

    def definition_description(
        self, instruction: ins.Instruction, what: str, keys: list[str], stage: str | None
    ) -> None:
        comments = instruction.node.comments
        if not comments or not keys:
            return
        if comments[-1].split(" ")[0] in keys:
            return
        example = keys[0] if len(keys) == 1 else "<arg_key>"
        fix = (
            f"Start the comment with the name it describes (`# {example} <description>`), "
            f"or put a line holding only `#` between the comment and the {what} "
            "(an empty line does not separate them)."
        )
        self.emit(
            "InvalidDefinitionDescription",
            instruction.line,
            f"Comment for {what} should follow the format: `# {example} <description>`",
            fix,
            stage=stage,
        )

    # -- rules over the whole file ------------------------------------------------------------

    def stage_names(self) -> None:
        seen: dict[str, int] = {}
        all_names = {s.name for s in self.df.stages if s.name}
        for stage in self.df.stages:
            name = stage.name
            if not name:
                continue
            f = stage.from_
            if name in RESERVED_STAGE_NAMES:
                self.emit(
                    "ReservedStageName",
                    f.line,
                    f"Stage name should not use the same name as reserved stage {quote(name)}",
                    _from_line(f, name=f"{name}-stage")
                    + f' — and update the references to stage "{name}"',
                    stage=stage.label,
                )
            if name in seen:
                n = 2
                while f"{name}-{n}" in all_names:
                    n += 1
                self.emit(
                    "DuplicateStageName",
                    f.line,
                    f"Duplicate stage name {quote(name)}, stage names should be unique",
                    _from_line(f, name=f"{name}-{n}")
                    + f' — as written, "{name}" after this line (FROM, COPY --from, --target) '
                    f"means this stage, not the one at line {seen[name]}; point each reference "
                    "at the stage it means",
                    stage=stage.label,
                )
            seen[name] = f.line

    def command_casing(self) -> None:
        words: list[tuple[ins.Instruction, str]] = []
        for stage in self.df.stages:
            words.append((stage.from_, stage.label))
            words.extend((i, stage.label) for i in stage.instructions)
        lower = upper = 0
        for instruction, _ in words:
            name = instruction.node.keyword
            if name == name.lower():
                lower += 1
            elif name == name.upper():
                upper += 1
        majority_lower = lower > upper
        for instruction, label in words:
            name = instruction.node.keyword
            if majority_lower and name != name.lower():
                casing, wanted = "lowercase", name.lower()
            elif not majority_lower and name != name.upper():
                casing, wanted = "uppercase", name.upper()
            else:
                continue
            text = self.df.source_line(instruction.line)
            fix = text.replace(name, wanted, 1).strip() if name in text else wanted
            self.emit(
                "ConsistentInstructionCasing",
                instruction.line,
                f"Command '{name}' should match the case of the command majority ({casing})",
                fix,
                stage=label,
            )

    def default_args_in_from(self) -> None:
        """validateBaseImagesWithDefaultArgs: every base with the ARG defaults only.

        Computed here rather than from `ci.default_plan`: when a default leaves a base
        empty, no plan can be built from it, and that is exactly the case to report.
        """
        meta = self.meta_env({})
        if meta is None:
            return
        env, _declared = meta
        defaults = {d.key: d.default for a in self.df.global_args for d in a.args}
        arg_lines = {d.key: a.line for a in self.df.global_args for d in a.args}
        for stage in self.df.stages:
            f = stage.from_
            try:
                result = self.lexer.process_word(f.base, env)
            except ExpansionError:
                return
            if is_valid_reference(result.result) and not _HEX_ID.match(result.result):
                continue
            used = sorted(
                n for n in result.matched | result.unmatched if n in defaults and not defaults[n]
            )
            if len(used) == 1 and re.search(r":\$\{?" + re.escape(used[0]) + r"\b", f.base):
                fix = (
                    f"ARG {used[0]}=latest — on line {arg_lines[used[0]]}, so that the tag is "
                    "valid without --build-arg"
                )
            elif len(used) == 1:
                fix = (
                    f"Give `ARG {used[0]}` (line {arg_lines[used[0]]}) a default value that "
                    f"makes `{f.base}` a valid image reference, or write "
                    f"`${{{used[0]}:-<default>}}` in the FROM."
                )
            else:
                fix = (
                    "Give the ARGs used in this FROM defaults that make it a valid image reference "
                    f"without --build-arg (with defaults only it is {quote(result.result)})."
                )
            self.emit(
                "InvalidDefaultArgInFrom",
                f.line,
                f"Default value for ARG {f.base} results in empty or invalid base image name",
                fix,
                stage=stage.label,
            )

    def from_lines(self) -> None:
        """buildDispatchStates: FROM lines expanded with the global ARGs."""
        meta = self.meta_env(self.build_args)
        if meta is None:
            return
        env, declared = meta
        known = list(dict.fromkeys([*env, *declared]))
        for stage in self.df.stages:
            f = stage.from_
            try:
                base = self.lexer.process_word(f.base, env)
            except ExpansionError:
                continue
            self.undefined_from_args(stage, base, known)
            if f.platform is None:
                continue
            try:
                platform = self.lexer.process_word(f.platform, env)
            except ExpansionError:
                continue
            self.undefined_from_args(stage, platform, known)
            if (
                len(platform.matched) == 1
                and not platform.unmatched
                and "TARGETPLATFORM" in platform.matched
                and platform.result == env.get("TARGETPLATFORM")
            ):
                self.emit(
                    "RedundantTargetPlatform",
                    f.line,
                    f"Setting platform to predefined {f.platform} in FROM is redundant as this "
                    "is the default behavior",
                    _from_line(f, drop_platform=True),
                    stage=stage.label,
                )
            self.const_platform(stage, platform)

    def undefined_from_args(self, stage: Stage, result: WordResult, known: list[str]) -> None:
        f = stage.from_
        known_set = set(known)
        for name in sorted(result.unmatched):
            if name in known_set:
                continue
            suggestion = buildkit_suggest(name, known)
            message = f"FROM argument '{name}' is not declared"
            if suggestion:
                message += f" (did you mean {suggestion}?)"
                fix = _rename_var(_from_line(f), name, suggestion)
            else:
                fix = (
                    f"Declare it before the first FROM, with a default: `ARG {name}=<value>` "
                    "(only ARGs declared before the first FROM are visible in FROM lines)."
                )
            self.emit("UndefinedArgInFrom", f.line, message, fix, stage=stage.label)

    def const_platform(self, stage: Stage, platform: WordResult) -> None:
        if platform.matched or platform.unmatched:
            return
        try:
            p = Platform.parse(platform.result)
        except EtageError:
            return
        name = stage.name or ""
        if p.os in name or p.architecture in name:
            return
        f = stage.from_
        suggestion = f"{name or 'build'}-{p.architecture}"
        self.emit(
            "FromPlatformFlagConstDisallowed",
            f.line,
            f"FROM --platform flag should not use constant value {quote(platform.result)}",
            _from_line(f, drop_platform=True)
            + f" — pass --platform {platform.result} on the command line, use a variable such as "
            f"$BUILDPLATFORM, or keep the flag and name the stage after it (AS {suggestion})",
            stage=stage.label,
        )

    # -- rules run while dispatching each stage -------------------------------------------------

    def dispatch(self) -> None:
        meta = self.meta_env(self.build_args)
        if meta is None:
            return
        global_env, _declared = meta
        evaluator = Evaluator(self.escape, global_env, self.build_args)
        final: dict[int, _StageState] = {}
        for ps in self.plan.stages:
            b = ps.base_stage
            if b is not None and b in final:
                state = final[b].copy()
            else:
                state = _StageState(initial_env({} if ps.base == SCRATCH else None))
            used = _Used()
            from_line = ps.stage.from_.line
            keys_before: dict[int, tuple[str, ...]] = {}
            steps = [(t, from_line) for t in ps.onbuild_triggers]
            steps += [(i, i.line) for i in ps.stage.instructions]
            for instruction, line in steps:
                keys_before[id(instruction)] = tuple(state.env.env)
                try:
                    words: tuple[str, ...] | None = evaluator.apply(instruction, state.env).words
                except ExpansionError:
                    words = None
                step = _Step(ps, state, used, line, words)
                self.dispatch_one(step, instruction)
            final[ps.index] = state
            self.undefined_vars(ps, keys_before)

    def dispatch_one(self, step: _Step, instruction: ins.Instruction) -> None:
        words = step.words
        match instruction:
            case ins.Env() | ins.Label():
                for i, pair in enumerate(instruction.pairs):
                    if pair.legacy:
                        self.legacy_key_value(step, instruction, pair)
                    if isinstance(instruction, ins.Env):
                        key = pair.key
                        if words is not None and i < len(words):
                            key = words[i].partition("=")[0]
                        self.secret(step, "ENV", key)
            case ins.Arg():
                for d in instruction.args:
                    self.secret(step, "ARG", d.key)
            case ins.Cmd() | ins.Entrypoint():
                self.used_once(step, instruction)
                if instruction.shell_form and not step.state.shell_set:
                    keyword = instruction.node.keyword
                    command = instruction.command[0] if instruction.command else ""
                    self.emit_step(
                        step,
                        "JSONArgsRecommended",
                        step.line,
                        f"JSON arguments recommended for {keyword} to prevent unintended behavior "
                        "related to OS signals",
                        exec_form_fix(keyword, command),
                    )
            case ins.Healthcheck():
                self.used_once(step, instruction)
            case ins.Shell():
                step.state.shell_set = True
            case ins.Workdir():
                if words is None:
                    return
                if not step.state.workdir_set and not words[0].startswith("/"):
                    self.workdir_relative(step, instruction, words[0])
                step.state.workdir_set = True
            case ins.Expose():
                if words is not None:
                    self.expose(step, instruction, words)
            case ins.Copy() | ins.Add():
                from_stage = isinstance(instruction, ins.Copy) and instruction.from_
                if words is not None and not from_stage:
                    self.copy_ignored(step, instruction, words[:-1])
            case _:
                pass

    def emit_step(self, step: _Step, rule_id: str, line: int, message: str, fix: str) -> None:
        self.emit(rule_id, line, message, fix, stage=step.ps.label)

    def legacy_key_value(
        self, step: _Step, instruction: ins.Env | ins.Label, pair: ins.KeyValue
    ) -> None:
        keyword = instruction.node.keyword
        value = pair.value
        if value == "":
            fix = f'{keyword} {pair.key}=""'
        elif not _has_unquoted_space(value, self.escape):
            fix = f"{keyword} {pair.key}={value}"
        elif '"' not in value and self.escape not in value:
            fix = f'{keyword} {pair.key}="{value}"'
        else:
            fix = (
                f"Write `{keyword} {pair.key}=<value>` with the value as one quoted word; "
                "keep the escapes the value needs inside the quotes."
            )
        self.emit_step(
            step,
            "LegacyKeyValueFormat",
            step.line,
            f'"{keyword} key=value" should be used instead of legacy "{keyword} key value" format',
            fix,
        )

    def secret(self, step: _Step, what: str, key: str) -> None:
        if not _SECRET_DENY.search(key) or _SECRET_ALLOW.search(key):
            return
        secret_id = key.lower()
        stored = "config" if what == "ENV" else "build history"
        fix = (
            f"Remove {key} from {what} (its value is stored in the image {stored}) and mount "
            "the secret only in the RUN that needs it: "
            f"`RUN --mount=type=secret,id={secret_id},env={key} <command>`, "
            f"built with `--secret id={secret_id},env={key}`."
        )
        self.emit_step(
            step,
            "SecretsUsedInArgOrEnv",
            step.line,
            f"Do not use ARG or ENV instructions for sensitive data ({what} {quote(key)})",
            fix,
        )

    def used_once(self, step: _Step, instruction: ins.Instruction) -> None:
        """validateUsedOnce: report the earlier one, which the new one makes dead."""
        kind = instruction.keyword
        previous = step.used.lines.get(kind)
        if previous is not None:
            name = instruction.node.keyword
            where = (
                f"line {step.line}" if step.line != previous else "the ONBUILD triggers of its base"
            )
            self.emit_step(
                step,
                "MultipleInstructionsDisallowed",
                previous,
                f"Multiple {name} instructions should not be used in the same stage because "
                "only the last one will be used",
                f"Delete this {kind}: the {kind} at {where} replaces it.",
            )
        step.used.lines[kind] = step.line

    def workdir_relative(self, step: _Step, instruction: ins.Workdir, path: str) -> None:
        keyword = instruction.node.keyword
        written = instruction.path
        if "$" in written:
            fix = (
                "Make the path absolute (start it with /) so that it does not depend on the "
                f"base image's working directory; it expands to {quote(path)} here."
            )
        else:
            fix = f"{keyword} {posixpath.normpath('/' + written)}"
            if not step.ps.base_env_known:
                fix += (
                    " — this assumes the base image's WORKDIR is /; if it is not, "
                    "write that directory in front"
                )
        self.emit_step(
            step,
            "WorkdirRelativePath",
            step.line,
            f"Relative workdir {quote(path)} can have unexpected results if the base image changes",
            fix,
        )

    def expose(self, step: _Step, instruction: ins.Expose, ports: tuple[str, ...]) -> None:
        keyword = instruction.node.keyword
        fixed = f"{keyword} " + " ".join(_fixed_port(w) for w in instruction.ports)
        for raw in ports:
            ip, host_port, container = _port_parts(raw)
            port, _, proto = container.partition("/")
            if port == "" or proto.lower() not in _PORT_PROTOCOLS:
                return  # BuildKit fails on this port before linting it and the ones after
            if proto != proto.lower():
                self.emit_step(
                    step,
                    "ExposeProtoCasing",
                    step.line,
                    f"Defined protocol '{raw}' in EXPOSE instruction should be lowercase",
                    fixed,
                )
            if ip or host_port:
                self.emit_step(
                    step,
                    "ExposeInvalidFormat",
                    step.line,
                    "EXPOSE instruction should not define an IP address or host-port mapping, "
                    f"found '{raw}'",
                    f"{fixed} — publish host ports when running the container "
                    f"(docker run -p {raw})",
                )

    def copy_ignored(
        self, step: _Step, instruction: ins.Copy | ins.Add, sources: tuple[str, ...]
    ) -> None:
        """validateCopySourcePath: only with an ignore file that has no `!` exceptions."""
        ignore = self.ci.ignore
        if not ignore or ignore.has_exceptions:
            return
        cmd = "Add" if isinstance(instruction, ins.Add) else "Copy"
        source = ignore.source or ".dockerignore"
        for src in sources:
            if isinstance(instruction, ins.Add) and ("://" in src or src.startswith("git@")):
                continue  # URLs and Git repositories do not come from the context
            path = go_clean(src)
            if path in (".", "/"):
                # The context root is reported only when a pattern excludes every entry.
                roots = [p for p in ignore.patterns if p.text in ("*", "**", "**/*")]
                if not roots:
                    continue
                fix = (
                    f"The pattern `{roots[0]}` (line {roots[0].line} of {source}) leaves nothing "
                    "in the context: list what to exclude instead, or re-include what the build "
                    "needs with `!` patterns after it."
                )
            elif ignore.is_excluded(path):
                pattern = ignore.matching_pattern(path)
                where = (
                    f"the pattern `{pattern}` (line {pattern.line} of {source})"
                    if pattern is not None
                    else source
                )
                fix = (
                    f"{path} is excluded by {where} and never reaches the builder: remove that "
                    f"pattern, or add `!{path}` after it."
                )
            else:
                continue
            self.emit_step(
                step,
                "CopyIgnoredFile",
                step.line,
                f"Attempting to {cmd} file {quote(path)} that is excluded by .dockerignore",
                fix,
            )

    def undefined_vars(self, ps: PlannedStage, keys_before: Mapping[int, tuple[str, ...]]) -> None:
        """UndefinedVar, from the names the plan found undefined (as BuildKit does).

        BuildKit knows the base image's ENV; statically we do not. For a stage whose
        chain of bases ends in an external image (`base_env_known` False), a name that
        is not defined in the Dockerfile may well come from the image, so it is reported
        only when it looks like a typo of a variable that is defined at that point
        (`$PAHT` for `$PATH`). Stages built from scratch report every undefined name.
        """
        triggers = {id(t) for t in ps.onbuild_triggers}
        from_line = ps.stage.from_.line
        for use in ps.undefined_vars:
            instruction = use.instruction
            name = use.name
            keys = keys_before.get(id(instruction), ())
            if not ps.base_env_known and closest(name, keys, case_sensitive=True) is None:
                continue
            is_trigger = id(instruction) in triggers
            line = from_line if is_trigger else instruction.line
            suggestion = buildkit_suggest(name, keys)
            message = f"Usage of undefined variable '${name}'"
            if suggestion:
                message += f" (did you mean ${suggestion}?)"
            text = _instruction_text(self.ci, instruction)
            renamed = _rename_var(text, name, suggestion) if suggestion else text
            if suggestion and renamed != text and not is_trigger:
                fix = renamed
            elif is_trigger:
                fix = (
                    f"Define {name} before the ONBUILD trigger at line {instruction.line} "
                    f"(in stage {ps.base}) runs, e.g. `ARG {name}=<value>` in that stage"
                    + (f", or use ${suggestion}" if suggestion else "")
                    + "."
                )
            else:
                fix = (
                    f"Define it before line {line} (`ARG {name}=<value>` or `ENV {name}=<value>`), "
                    "or remove the reference: an undefined variable expands to an empty string."
                )
            self.emit(
                "UndefinedVar",
                line,
                message,
                fix,
                stage=ps.label,
            )
