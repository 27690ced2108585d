"""BuildKit's build checks that read the Dockerfile as written, before any stage runs.

Two of the three moments at which BuildKit lints (see `etage.checks.buildkit`):

* while typing instructions (`instructions/parse.go`): MaintainerDeprecated,
  StageNameCasing, FromAsCasing, InvalidDefinitionDescription;
* over the whole file (`dockerfile2llb/validations.go`, `convert.go`):
  NoEmptyContinuation, DuplicateStageName, ReservedStageName,
  ConsistentInstructionCasing, InvalidDefaultArgInFrom, and, per FROM line,
  UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed.
"""

from __future__ import annotations

import re

from etage.checks.buildkit_base import LinterBase
from etage.checks.buildkit_fixes import (
    buildkit_suggest,
    dquote,
    keyword_like,
    rebuilt_from,
    rename_var,
)
from etage.checks.model import Finding
from etage.dockerfile import instructions as ins
from etage.dockerfile.gocompat import quote
from etage.dockerfile.parse import Stage
from etage.dockerfile.shell import WordResult
from etage.errors import EtageError, ExpansionError
from etage.platforms import Platform
from etage.reference import is_valid_reference

__all__ = ["FileRules"]

RESERVED_STAGE_NAMES = ("context", "scratch")

# reference.ParseNormalizedNamed refuses a bare 64-hex-digit name (it looks like an ID).
_HEX_ID = re.compile(r"[a-f0-9]{64}\Z")


class FileRules(LinterBase):
    """The rules run while parsing and over the whole file, in BuildKit's order."""

    def run(self) -> list[Finding]:
        self.empty_continuations()
        self.parse_time()
        self.stage_names()
        self.command_casing()
        self.default_args_in_from()
        self.from_lines()
        return self.out

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
        keyword = keyword_like(m.node.keyword, "LABEL")
        fix = f"{keyword} org.opencontainers.image.authors={dquote(m.maintainer, self.escape)}"
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
                    rebuilt_from(f, name=written.lower()),
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
                        rebuilt_from(f, as_word=wanted),
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
                    rebuilt_from(f, name=f"{name}-stage")
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
                    rebuilt_from(f, name=f"{name}-{n}")
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
                    rebuilt_from(f, drop_platform=True),
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
                fix = rename_var(rebuilt_from(f), name, suggestion)
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
            rebuilt_from(f, drop_platform=True)
            + f" — pass --platform {platform.result} on the command line, use a variable such as "
            f"$BUILDPLATFORM, or keep the flag and name the stage after it (AS {suggestion})",
            stage=stage.label,
        )
