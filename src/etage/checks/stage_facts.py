"""Facts about stages that the multi-stage rules share: the FROM chain, the RUN
commands and what they install or build, the working directory, a name by role."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from etage.checks.context import CheckInput
from etage.checks.ecosystems import (
    Install,
    build_command,
    dependency_install,
    is_prune_to_production,
)
from etage.checks.shellwords import SimpleCommand, commands_of
from etage.dockerfile import instructions as ins


@dataclass(frozen=True, slots=True)
class RunFacts:
    instruction: ins.Run
    commands: tuple[SimpleCommand, ...]
    env: dict[str, str]  # ENV/ARG defaults in effect (raw values)


def chain(ci: CheckInput, index: int) -> list[int]:
    """The stage and the stages it is built FROM, nearest first."""
    out: list[int] = []
    i: int | None = index
    while i is not None and i not in out:
        out.append(i)
        i = ci.stages[i].base_stage
    return out


def runs(ci: CheckInput, index: int, *, with_bases: bool = False) -> list[RunFacts]:
    indexes = list(reversed(chain(ci, index))) if with_bases else [index]
    env: dict[str, str] = {}
    out: list[RunFacts] = []
    for i in indexes:
        for instruction in ci.stages[i].stage.instructions:
            if isinstance(instruction, ins.Env):
                env.update((p.key, p.value.strip("\"'")) for p in instruction.pairs)
            elif isinstance(instruction, ins.Arg):
                env.update(
                    (a.key, (a.default or "").strip("\"'")) for a in instruction.args if a.default
                )
            elif isinstance(instruction, ins.Run):
                out.append(RunFacts(instruction, tuple(commands_of(instruction)), dict(env)))
    return out


def workdir(ci: CheckInput, index: int) -> str | None:
    """The working directory at the end of a stage, when the Dockerfile sets it."""
    wd: str | None = None
    for i in reversed(chain(ci, index)):
        for instruction in ci.stages[i].stage.instructions:
            if isinstance(instruction, ins.Workdir) and "$" not in instruction.path:
                wd = posixpath.normpath(posixpath.join(wd or "/", instruction.path))
    return wd


def installs(ci: CheckInput, index: int) -> list[tuple[RunFacts, Install]]:
    out: list[tuple[RunFacts, Install]] = []
    for facts in runs(ci, index, with_bases=True):
        for cmd in facts.commands:
            found = dependency_install(cmd, facts.env)
            if found is not None:
                out.append((facts, found))
    return out


def pruned_to_production(ci: CheckInput, index: int) -> bool:
    return any(
        is_prune_to_production(cmd) for f in runs(ci, index, with_bases=True) for cmd in f.commands
    )


def builds(ci: CheckInput, index: int) -> list[tuple[RunFacts, SimpleCommand]]:
    return [
        (f, cmd)
        for f in runs(ci, index, with_bases=True)
        for cmd in f.commands
        if build_command(cmd) is not None
    ]


def root_image(ci: CheckInput, index: int) -> str:
    return ci.stages[chain(ci, index)[-1]].base


def copies_whole_context(ci: CheckInput, index: int) -> bool:
    for i in chain(ci, index):
        for instruction in ci.stages[i].stage.instructions:
            if not isinstance(instruction, ins.Copy | ins.Add):
                continue
            if isinstance(instruction, ins.Copy) and instruction.from_ is not None:
                continue
            if any(posixpath.normpath(s) in (".", "/", "*") for s in instruction.sources):
                return True
    return False


def is_builder(ci: CheckInput, index: int) -> bool:
    """A stage that produces files by running commands (as opposed to an export stage)."""
    return any(True for i in chain(ci, index) for _ in runs(ci, i)) or copies_whole_context(
        ci, index
    )


def suggested_name(ci: CheckInput, index: int) -> str:
    """A name for an unnamed stage, by the role it plays."""
    s = ci.stages[index]
    taken = {p.name for p in ci.stages if p.name}
    if index == ci.plan.target or index == len(ci.stages) - 1:
        base = "runtime"
    elif index in ci.roles.copied_from:
        base = "builder" if builds(ci, index) or is_builder(ci, index) else "assets"
    elif index in ci.roles.based_on:
        base = "base"
    elif any(
        cmd.program in ("pytest", "jest", "mocha", "vitest", "tox") or cmd.words[1:2] == ("test",)
        for f in runs(ci, index)
        for cmd in f.commands
    ):
        base = "test"
    else:
        base = f"stage{s.index}"
    name = base
    n = 2
    while name in taken:
        name = f"{base}{n}"
        n += 1
    return name
