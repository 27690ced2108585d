"""BuildKit's build checks that run while each stage's instructions are dispatched.

The third moment at which BuildKit lints (`convert.go`, see `etage.checks.buildkit`):
UndefinedVar, LegacyKeyValueFormat, SecretsUsedInArgOrEnv, WorkdirRelativePath,
JSONArgsRecommended, MultipleInstructionsDisallowed, ExposeProtoCasing,
ExposeInvalidFormat, CopyIgnoredFile. Every stage is dispatched in file order with the
state it inherits from its base stage; ONBUILD triggers inherited from a stage base run
first and are reported on the FROM line of the stage that runs them, as in BuildKit.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from etage.checks.buildkit_base import LinterBase
from etage.checks.buildkit_fixes import (
    PORT_PROTOCOLS,
    buildkit_suggest,
    exec_form_fix,
    fixed_port,
    has_unquoted_space,
    instruction_text,
    port_parts,
    rename_var,
)
from etage.checks.model import Finding
from etage.dockerfile import instructions as ins
from etage.dockerfile.gocompat import quote
from etage.dockerfile.ignore import go_clean
from etage.dockerfile.suggest import closest
from etage.errors import ExpansionError
from etage.plan.evaluate import Evaluator, StageEnv, initial_env
from etage.plan.model import SCRATCH, PlannedStage

__all__ = ["DispatchRules", "is_secret_name"]

# validations.go getSecretsRegex: a secret word as the whole key or as its first or
# last "_"-separated part, unless an allow word is there too.
_SECRET_WORDS = (
    "apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd",
    "secret", "token",
)  # fmt: skip
_SECRET_DENY = re.compile(r"(?i)(?:_|^)(?:" + "|".join(_SECRET_WORDS) + r")(?:_|$)")
_SECRET_ALLOW = re.compile(r"(?i)(?:_|^)(?:public|file|version)(?:_|$)")


def is_secret_name(key: str) -> bool:
    """Whether an ARG or ENV name says its value is a secret (BuildKit's rule)."""
    return bool(_SECRET_DENY.search(key)) and not _SECRET_ALLOW.search(key)


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


class DispatchRules(LinterBase):
    """The rules run while dispatching each stage, with BuildKit's dispatch state."""

    def run(self) -> list[Finding]:
        self.dispatch()
        return self.out

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
        elif not has_unquoted_space(value, self.escape):
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
        if not is_secret_name(key):
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
        fixed = f"{keyword} " + " ".join(fixed_port(w) for w in instruction.ports)
        for raw in ports:
            ip, host_port, container = port_parts(raw)
            port, _, proto = container.partition("/")
            if port == "" or proto.lower() not in PORT_PROTOCOLS:
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
            text = instruction_text(self.ci, instruction)
            renamed = rename_var(text, name, suggestion) if suggestion else text
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
