"""Dockerfile -> BuildPlan: stage references, target pruning, waves, cycles.

Follows BuildKit's dockerfile2llb: every stage's FROM is expanded with the global
ARGs; a FROM naming an earlier stage builds on it (names match exactly, and stage
names are stored lower-cased); COPY --from and RUN --mount from= name a stage
(case-insensitive) or, for COPY, an index, and anything else is an image; cycles are
errors wherever they are; only the stages the target reaches are built, and a
reached stage may only use stages defined before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from etage.dockerfile import instructions as ins
from etage.dockerfile.flags import split_mount_fields
from etage.dockerfile.lexer import parse_text
from etage.dockerfile.parse import Dockerfile, Stage
from etage.dockerfile.shell import ShellLexer
from etage.dockerfile.suggest import closest, did_you_mean
from etage.errors import EtageError, ExpansionError, PlanError, SourceLocation
from etage.plan.evaluate import PROXY_ARGS, Evaluator, StageEnv, initial_env
from etage.plan.model import SCRATCH, BuildPlan, CopyEdge, PlannedStage, VariableUse
from etage.platforms import Platform, host


@dataclass(frozen=True, slots=True)
class PlanOptions:
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target_platform: Platform | None = None
    build_platform: Platform | None = None
    # Names given with --build-context: they replace a stage or image of that name.
    named_contexts: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Ref:
    """A use of another stage or image by an instruction."""

    instruction: ins.Instruction
    name: str  # as written
    stage: int | None  # resolved stage index
    kind: str  # "copy", "mount", "onbuild"


def is_predefined_arg(name: str) -> bool:
    """Build args BuildKit knows without an ARG: proxies, SOURCE_DATE_EPOCH, BUILDKIT_*."""
    return name in PROXY_ARGS or name == "SOURCE_DATE_EPOCH" or name.startswith("BUILDKIT_")


def default_args(build: Platform, target: Platform, target_name: str) -> dict[str, str]:
    """The automatic platform ARGs, visible in FROM lines (BuildKit's defaultArgs)."""
    return {
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDOSVERSION": "",
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETOSVERSION": "",
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
        "TARGETSTAGE": target_name or "default",
    }


EXPANSION_HINT = (
    "variables expand as $NAME, ${NAME}, ${NAME:-default}, ${NAME:+alt}, ${NAME#prefix}, "
    "${NAME%suffix} or ${NAME/from/to}; write \\$ for a literal dollar sign"
)


def _error(
    df: Dockerfile,
    message: str,
    line: int,
    hint: str | None = None,
    cls: type[EtageError] = PlanError,
) -> EtageError:
    if hint is None and cls is ExpansionError:
        hint = EXPANSION_HINT
    return cls(
        message,
        location=SourceLocation(df.filename, line),
        source_line=df.source_line(line),
        hint=hint,
    )


class _Planner:
    def __init__(self, df: Dockerfile, options: PlanOptions) -> None:
        self.df = df
        self.options = options
        self.build_platform = options.build_platform or host()
        self.target_platform = options.target_platform or self.build_platform
        self.lexer = ShellLexer(df.escape_token)
        self.by_name: dict[str, int] = {}  # lower-cased stage name -> index (last wins)

    # -- global ARGs and FROM lines -------------------------------------------------

    def global_env(self, target_name: str) -> tuple[dict[str, str], set[str]]:
        build_args = self.options.build_args
        env = default_args(self.build_platform, self.target_platform, target_name)
        for key in list(env):
            if key in build_args:
                env[key] = build_args[key]
        declared: set[str] = set()
        for arg in self.df.global_args:
            for d in arg.args:
                declared.add(d.key)
                if d.key in build_args:
                    env[d.key] = build_args[d.key]
                elif d.default is not None:
                    try:
                        env[d.key] = self.lexer.process_word(d.default, env).result
                    except ExpansionError as exc:
                        raise _error(self.df, exc.message, arg.line, cls=ExpansionError) from None
        return env, declared

    def resolve_from(self, stage: Stage, env: Mapping[str, str]) -> tuple[str, str | None]:
        f = stage.from_
        try:
            base = self.lexer.process_word(f.base, env).result
        except ExpansionError as exc:
            raise _error(self.df, exc.message, f.line, cls=ExpansionError) from None
        if base == "":
            raise _error(
                self.df,
                f"base name ({f.base}) should not be blank",
                f.line,
                hint="give the ARG a default value before the first FROM, or pass --build-arg",
            )
        platform: str | None = None
        if f.platform is not None:
            try:
                platform = self.lexer.process_word(f.platform, env).result
            except ExpansionError as exc:
                raise _error(self.df, exc.message, f.line, cls=ExpansionError) from None
            if platform == "":
                raise _error(
                    self.df,
                    f"empty platform value from expression {f.platform}",
                    f.line,
                    hint="give the ARG a default before the first FROM, or pass --build-arg",
                )
            try:
                Platform.parse(platform)
            except EtageError as exc:
                raise _error(
                    self.df, f"failed to parse platform {f.platform}: {exc.message}", f.line
                ) from None
        return base, platform

    # -- references between stages ----------------------------------------------------

    def copy_ref(self, instruction: ins.Copy, kind: str) -> _Ref:
        name = instruction.from_
        assert name is not None
        literal = (
            self.lexer.process_word(name, {}).result
            if "$" in name or "\\" in name or "'" in name or '"' in name
            else name
        )
        if literal != name:
            raise _error(
                self.df,
                "variable expansion is not supported for --from, define a new stage with FROM "
                "using ARG from global scope as a workaround",
                instruction.line,
                hint=f"add `FROM {name} AS source` after the global ARGs and use --from=source",
            )
        # Go's strconv.Atoi, as BuildKit parses an index: ASCII digits, an optional sign.
        if name.isascii() and (name.isdigit() or (name[:1] in "+-" and name[1:].isdigit())):
            index = int(name)
            if not 0 <= index < len(self.df.stages):
                raise _error(
                    self.df,
                    f"invalid stage index {index}",
                    instruction.line,
                    hint=f"this Dockerfile has stages 0 to {len(self.df.stages) - 1}; "
                    "better, name the stage (FROM ... AS name) and use --from=name",
                )
            return _Ref(instruction, name, index, kind)
        return _Ref(instruction, name, self.by_name.get(name.lower()), kind)

    def refs_of(self, instruction: ins.Instruction, kind: str) -> list[_Ref]:
        if isinstance(instruction, ins.Copy) and instruction.from_ is not None:
            return [self.copy_ref(instruction, kind)]
        if isinstance(instruction, ins.Add) and "--from" in " ".join(instruction.node.flags):
            raise _error(self.df, "ADD does not support --from", instruction.line)
        if isinstance(instruction, ins.Run):
            return [
                _Ref(
                    instruction,
                    src,
                    self.by_name.get(src.lower()),
                    "mount" if kind == "copy" else kind,
                )
                for src in instruction.mount_froms
                if src is not None
            ]
        return []

    def onbuild_triggers(self, base: Stage) -> list[ins.Instruction]:
        triggers: list[ins.Instruction] = []
        for instruction in base.instructions:
            if isinstance(instruction, ins.Onbuild):
                if instruction.trigger is None:
                    raise _error(
                        self.df,
                        f"ONBUILD trigger is invalid: {instruction.trigger_error}",
                        instruction.line,
                    )
                triggers.append(instruction.trigger)
        return triggers

    # -- the whole plan -------------------------------------------------------------------

    def plan(self) -> BuildPlan:
        df = self.df
        stages = df.stages
        opts = self.options
        target_name = opts.target or (stages[-1].name or "")
        global_env, global_declared = self.global_env(target_name)

        bases: list[str] = []
        platforms: list[str | None] = []
        base_stage: list[int | None] = []
        for stage in stages:
            base, platform = self.resolve_from(stage, global_env)
            bases.append(base)
            platforms.append(platform)
            earlier = self.by_name.get(base)  # exact match: FROM is case-sensitive
            base_stage.append(
                earlier if earlier is not None and base not in opts.named_contexts else None
            )
            if stage.name is not None:
                self.by_name[stage.name] = stage.index

        # Resolve --target.
        if opts.target:
            target = self.by_name.get(opts.target.lower())
            if target is None:
                names = [s.name for s in stages if s.name]
                guess = closest(opts.target, names)
                # Point at the stage the user probably meant, else at the last stage.
                near = stages[self.by_name[guess]] if guess else stages[-1]
                raise _error(
                    df,
                    f'target stage "{opts.target}" could not be found'
                    + did_you_mean(opts.target, names),
                    near.from_.line,
                    hint=(
                        "stages with a name: " + ", ".join(names)
                        if names
                        else "no stage has a name: add `AS name` to a FROM line"
                    ),
                )
        else:
            target = len(stages) - 1

        # Every stage's references (BuildKit checks cycles across all stages).
        refs: list[list[_Ref]] = []
        triggers: list[list[ins.Instruction]] = []
        for stage in stages:
            own: list[_Ref] = []
            inherited: list[ins.Instruction] = []
            b = base_stage[stage.index]
            if b is not None:
                inherited = self.onbuild_triggers(stages[b])
                for trigger in inherited:
                    own.extend(self.refs_of(trigger, "onbuild"))
            for instruction in stage.instructions:
                own.extend(self.refs_of(instruction, "copy"))
            refs.append(own)
            triggers.append(inherited)

        deps: list[list[int]] = []
        for stage in stages:
            order: dict[int, None] = {}
            b = base_stage[stage.index]
            if b is not None:
                order[b] = None
            for r in refs[stage.index]:
                if r.stage is not None:
                    order[r.stage] = None
            deps.append(list(order))

        self.check_cycles(deps, refs, base_stage)

        # Reachability from the target, with the reason each stage is needed.
        reasons: dict[int, str] = {target: "target"}
        stack = [target]
        while stack:
            i = stack.pop()
            b = base_stage[i]
            if b is not None and b not in reasons:
                reasons[b] = f"base of stage {stages[i].label}"
                stack.append(b)
            for r in refs[i]:
                if r.stage is not None and r.stage not in reasons:
                    what = {
                        "copy": "COPY --from",
                        "mount": "RUN --mount from",
                        "onbuild": "ONBUILD COPY --from",
                    }[r.kind]
                    reasons[r.stage] = (
                        f"{what} in stage {stages[i].label} (line {r.instruction.line})"
                    )
                    stack.append(r.stage)

        # A stage that is built may only use stages defined before it.
        for i in sorted(reasons):
            for r in refs[i]:
                if r.stage is not None and r.stage > i:
                    if r.kind == "mount":
                        msg = (
                            f'cannot mount from stage "{r.name}", '
                            "stage needs to be defined before current command"
                        )
                    else:
                        here = stages[i].name or f"stage-{i}"
                        msg = (
                            f'cannot copy from stage "{r.name}", '
                            f'it needs to be defined before current stage "{here}"'
                        )
                    raise _error(
                        df,
                        msg,
                        r.instruction.line,
                        hint=f"move stage {stages[r.stage].label} above stage {stages[i].label}",
                    )

        planned = self.evaluate(
            target=target,
            reasons=reasons,
            bases=bases,
            platforms=platforms,
            base_stage=base_stage,
            refs=refs,
            triggers=triggers,
            deps=deps,
            global_env=global_env,
        )
        waves = self.waves(sorted(reasons), deps)
        global_values = tuple((k, v) for k, v in global_env.items() if k in global_declared)
        used = set(global_declared)
        for s in stages:
            for instruction in s.instructions:
                if isinstance(instruction, ins.Arg):
                    used.update(d.key for d in instruction.args)
        unused = tuple(
            sorted(
                k
                for k in opts.build_args
                if k not in used and k not in global_env and not is_predefined_arg(k)
            )
        )
        return BuildPlan(
            dockerfile=df,
            target=target,
            stages=tuple(planned),
            waves=waves,
            global_args=global_values,
            build_args=tuple(sorted(opts.build_args.items())),
            target_platform=self.target_platform,
            build_platform=self.build_platform,
            unused_build_args=unused,
            global_env=tuple(global_env.items()),
        )

    def check_cycles(
        self, deps: list[list[int]], refs: list[list[_Ref]], base_stage: list[int | None]
    ) -> None:
        stages = self.df.stages
        for i, d in enumerate(deps):
            if i in d:
                r = next((r for r in refs[i] if r.stage == i), None)
                line = r.instruction.line if r else stages[i].from_.line
                raise _error(
                    self.df,
                    "circular dependency detected on stage: "
                    f"{stages[i].name or f'stage-{i}'} (it uses itself)",
                    line,
                    hint="a stage cannot copy from itself; "
                    "copy from the stage that produced the files",
                )
        state = [0] * len(deps)  # 0 new, 1 on the path, 2 done
        path: list[int] = []

        def visit(i: int) -> list[int] | None:
            state[i] = 1
            path.append(i)
            for j in deps[i]:
                if state[j] == 1:
                    return [*path[path.index(j) :], j]
                if state[j] == 0 and (cycle := visit(j)) is not None:
                    return cycle
            path.pop()
            state[i] = 2
            return None

        for i in range(len(deps)):
            if state[i] == 0 and (cycle := visit(i)) is not None:
                names = " -> ".join(stages[k].label for k in cycle)
                first = cycle[0]
                nxt = cycle[1]
                r = next((r for r in refs[first] if r.stage == nxt), None)
                line = r.instruction.line if r else stages[first].from_.line
                raise _error(
                    self.df,
                    "circular dependency detected on stage: "
                    f"{stages[first].name or f'stage-{first}'} ({names})",
                    line,
                    hint="stages must form a chain without loops; "
                    "move the shared files into a stage both can use",
                )

    @staticmethod
    def waves(needed: list[int], deps: list[list[int]]) -> tuple[tuple[int, ...], ...]:
        level: dict[int, int] = {}
        for i in needed:  # file order is a topological order for needed stages
            level[i] = 1 + max((level[d] for d in deps[i] if d in level), default=-1)
        out: dict[int, list[int]] = {}
        for i in needed:
            out.setdefault(level[i], []).append(i)
        return tuple(tuple(out[k]) for k in sorted(out))

    def evaluate(
        self,
        *,
        target: int,
        reasons: dict[int, str],
        bases: list[str],
        platforms: list[str | None],
        base_stage: list[int | None],
        refs: list[list[_Ref]],
        triggers: list[list[ins.Instruction]],
        deps: list[list[int]],
        global_env: dict[str, str],
    ) -> list[PlannedStage]:
        df = self.df
        evaluator = Evaluator(df.escape_token, global_env, self.options.build_args)
        final: dict[int, StageEnv] = {}
        out: list[PlannedStage] = []
        for stage in df.stages:
            i = stage.index
            needed = i in reasons
            b = base_stage[i]
            if b is not None and b in final:
                state = final[b].copy()
            elif b is not None:
                state = initial_env(None)
            else:
                state = initial_env({} if bases[i] == SCRATCH else None)
            expanded: dict[int, tuple[str, ...]] = {}
            undefined: list[VariableUse] = []
            for instruction in [*triggers[i], *stage.instructions]:
                try:
                    result = evaluator.apply(instruction, state)
                except ExpansionError as exc:
                    if needed:
                        raise _error(
                            df, exc.message, instruction.line, cls=ExpansionError
                        ) from None
                    continue
                expanded[id(instruction)] = result.words
                undefined.extend(VariableUse(n, instruction) for n in sorted(result.unmatched))
            final[i] = state
            images: dict[str, None] = {}
            if b is None and bases[i] != SCRATCH:
                images[bases[i]] = None
            edges: list[CopyEdge] = []
            for r in refs[i]:
                if r.stage is None:
                    images.setdefault(r.name)
                words = expanded.get(id(r.instruction))
                if isinstance(r.instruction, ins.Copy):
                    if words:
                        sources, dest = words[:-1], words[-1]
                    else:
                        sources, dest = r.instruction.sources, r.instruction.dest
                    edges.append(
                        CopyEdge(
                            (r.stage is not None and df.stages[r.stage].label) or r.name,
                            r.stage,
                            tuple(sources),
                            dest,
                            r.instruction,
                            r.kind,
                        )
                    )
                elif isinstance(r.instruction, ins.Run):
                    edges.append(
                        CopyEdge(
                            df.stages[r.stage].label if r.stage is not None else r.name,
                            r.stage,
                            _mount_sources(r.instruction, r.name),
                            None,
                            r.instruction,
                            "mount",
                        )
                    )
            out.append(
                PlannedStage(
                    stage=stage,
                    base=df.stages[b].label if b is not None else bases[i],
                    base_stage=b,
                    platform=platforms[i],
                    needed=needed,
                    reason=reasons.get(i, f"not needed by target {df.stages[target].label}"),
                    depends_on=tuple(deps[i]),
                    copies_from=tuple(edges),
                    images=tuple(images),
                    onbuild_triggers=tuple(triggers[i]),
                    undefined_vars=tuple(undefined),
                    defined_vars=frozenset(state.env) | frozenset(state.declared_args),
                    base_env_known=state.base_known,
                )
            )
        return out


def _mount_sources(run: ins.Run, source: str) -> tuple[str, ...]:
    out: list[str] = []
    for spec, src in zip(run.mounts, run.mount_froms, strict=True):
        if src != source:
            continue
        path = "/"
        for f in split_mount_fields(spec):
            key, _, value = f.partition("=")
            if key.lower() in ("source", "src"):
                path = value or "/"
        out.append(path)
    return tuple(out)


def build_plan(dockerfile: Dockerfile, options: PlanOptions | None = None) -> BuildPlan:
    """Resolve stages, the target and the order of work. Raises PlanError/ExpansionError."""
    return _Planner(dockerfile, options or PlanOptions()).plan()


__all__ = ["PlanOptions", "build_plan", "default_args", "parse_text"]
