"""etage's multi-stage rules: what crosses between stages and what ships.

Rules about what ships look only at the stages that ship: the target and the stages
it is built FROM, and at what other stages copy into them. Builder and test stages
may install dev dependencies, compilers and caches: that is what they are for.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from etage.checks.context import CheckInput
from etage.checks.ecosystems import (
    Install,
    build_command,
    build_tools_installed,
    dependency_install,
    runtime_alternative,
    system_packages_installed,
    system_packages_removed,
)
from etage.checks.model import Finding, Severity
from etage.checks.stage_facts import (
    builds,
    chain,
    copies_whole_context,
    installs,
    is_builder,
    pruned_to_production,
    root_image,
    runs,
    suggested_name,
    workdir,
)
from etage.dockerfile import instructions as ins
from etage.plan.model import SCRATCH, CopyEdge, PlannedStage

_VARIANT_FILE = re.compile(
    r"^(?:(?:docker|container)file[._-](?P<a>[\w.-]+)|(?P<b>[\w.-]+)[._-](?:docker|container)file)$",
    re.IGNORECASE,
)
_ENVIRONMENTS = frozenset({
    "dev", "develop", "development", "prod", "production", "staging", "stage", "test", "testing",
    "ci", "local", "qa", "debug", "release", "preprod", "uat", "integration", "e2e",
})  # fmt: skip
_DEP_TREES = {
    "node_modules": "node",
    ".venv": "python",
    "venv": "python",
    "site-packages": "python",
    "dist-packages": "python",
    "vendor": "php/ruby",
    ".m2": "maven",
    ".gradle": "gradle",
}


def _replace_from_value(line: str, old: str, new: str) -> str:
    return re.sub(rf"(--from=){re.escape(old)}(?=\s|$)", rf"\g<1>{new}", line, count=1)


def _line(ci: CheckInput, number: int) -> str:
    return ci.dockerfile.source_line(number).strip()


# ---- rules ---------------------------------------------------------------------------


def unnamed_stages(ci: CheckInput) -> Iterator[Finding]:
    if len(ci.stages) < 2:
        return
    last = len(ci.stages) - 1
    for s in ci.stages:
        if s.name is not None:
            continue
        name = suggested_name(ci, s.index)
        f = s.stage.from_
        fixed = f"{_line(ci, f.line)} AS {name}"
        used_by = [
            o.label for o in ci.stages
            if any(e.source_stage == s.index for e in o.copies_from) or o.base_stage == s.index
        ]  # fmt: skip
        if s.index == last:
            msg = (
                "the final stage has no name: name it so it can be built with --target "
                f"(e.g. {name!r})"
            )
            finding = ci.finding("UnnamedStage", f.line, msg, fix=fixed, stage=s.label)
            yield _with_severity(finding, Severity.INFO)
        else:
            what = f"used by stage {', '.join(used_by)}" if used_by else "used by no other stage"
            msg = f"stage {s.index} (FROM {s.stage.from_.base}) has no name; it is {what}"
            yield ci.finding("UnnamedStage", f.line, msg, fix=fixed, stage=s.label)


def numeric_references(ci: CheckInput) -> Iterator[Finding]:
    for s in ci.stages:
        for e in s.copies_from:
            inst = e.instruction
            if not isinstance(inst, ins.Copy) or inst.from_ is None:
                continue
            if not (inst.from_.isascii() and inst.from_.isdigit()):
                continue
            target = ci.stages[int(inst.from_)]
            name = target.name or suggested_name(ci, target.index)
            fixed = _replace_from_value(_line(ci, inst.line), inst.from_, name)
            extra = "" if target.name else f" after naming stage {target.index} `AS {name}`"
            msg = (
                f"COPY --from={inst.from_} refers to stage {target.index}"
                + (f" ({target.name!r})" if target.name else f" (FROM {target.stage.from_.base})")
                + " by its index; the number breaks when a stage is added above it"
            )
            yield ci.finding(
                "NumericStageReference", inst.line, msg, fix=fixed + extra, stage=s.label,
                column=_column(ci, inst.line, "--from="),
            )  # fmt: skip


def _column(ci: CheckInput, line: int, needle: str) -> int:
    pos = ci.dockerfile.source_line(line).find(needle)
    return pos + 1 if pos >= 0 else 1


def _shipping_edges(ci: CheckInput) -> Iterator[tuple[PlannedStage, CopyEdge, PlannedStage]]:
    for i in sorted(ci.roles.shipping):
        s = ci.stages[i]
        for e in s.copies_from:
            if (
                e.source_stage is not None
                and e.kind in ("copy", "onbuild")
                and e.source_stage not in ci.roles.shipping
            ):
                yield s, e, ci.stages[e.source_stage]


def _output_hint(ci: CheckInput, source: int) -> str | None:
    wd = workdir(ci, source) or "/"
    for _f, cmd in builds(ci, source):
        b = build_command(cmd)
        if b is not None and b.output:
            return posixpath.normpath(posixpath.join(wd, b.output))
    return None


def _runtime_paths(ci: CheckInput, stage: int) -> list[str]:
    """Absolute paths the stage's ENTRYPOINT/CMD (exec form) run or load."""
    wd = workdir(ci, stage) or "/"
    command: tuple[str, ...] = ()
    for i in reversed(chain(ci, stage)):
        for instruction in ci.stages[i].stage.instructions:
            if isinstance(instruction, ins.Entrypoint | ins.Cmd) and not instruction.shell_form:
                command = instruction.command
    paths = []
    for word in command:
        looks_like_path = "/" in word or word.endswith((".js", ".jar", ".py", ".mjs", ".cjs"))
        if looks_like_path and not word.startswith("-") and "$" not in word:
            paths.append(posixpath.normpath(posixpath.join(wd, word)))
    return paths


def _needed_part(ci: CheckInput, stage: int, dest_dir: str) -> str | None:
    """The part of a copied tree the entrypoint needs, relative to where it was copied."""
    for path in _runtime_paths(ci, stage):
        if not path.startswith(dest_dir.rstrip("/") + "/"):
            continue
        rel = posixpath.relpath(path, dest_dir).split("/")
        if "bin" in rel[1:]:
            return "/".join(rel[: rel.index("bin")])  # an installed distribution: <dir>/bin/app
        if len(rel) > 1:
            return rel[0]  # dist/index.js -> dist
    return None


def whole_build_tree(ci: CheckInput) -> Iterator[Finding]:
    for dest_stage, e, src in _shipping_edges(ci):
        wd = workdir(ci, src.index)
        whole = []
        for path in e.sources:
            # COPY --from paths are relative to the source stage's root, not its WORKDIR.
            norm = posixpath.normpath(posixpath.join("/", path))
            if norm.endswith("/*"):
                norm = posixpath.dirname(norm)
            if norm in ("/", "/*") or (wd is not None and wd != "/" and norm == wd):
                whole.append(path)
        if not whole or not is_builder(ci, src.index):
            continue
        dev = [inst for _f, inst in installs(ci, src.index) if inst.dev]
        if not builds(ci, src.index) and not dev and whole[0] != "/":
            # Nothing was built or installed for development there: the directory holds
            # the application as copied (an interpreted app), not a build tree.
            continue
        output = _output_hint(ci, src.index)
        parts = [
            f"COPY --from={e.source} copies the whole "
            + ("filesystem" if whole[0] == "/" else f"application directory {wd or whole[0]}")
            + f" of stage {src.label}"
        ]
        if dev and not pruned_to_production(ci, src.index):
            parts.append(f"including {dev[0].tree} with dev dependencies")
        if copies_whole_context(ci, src.index):
            parts.append("and the sources copied from the build context")
        msg = ", ".join(parts) + " into the image that ships"
        line = _line(ci, e.line)
        dest = e.dest or "."
        dest_dir = posixpath.normpath(posixpath.join(workdir(ci, dest_stage.index) or "/", dest))
        needed = _needed_part(ci, dest_stage.index, dest_dir) if len(e.sources) == 1 else None
        if needed:
            src_root = posixpath.normpath(posixpath.join("/", whole[0]))
            src_root = posixpath.dirname(src_root) if src_root.endswith("/*") else src_root
            src_path = posixpath.join(src_root, needed)
            dest_path = posixpath.join(dest if dest not in (".", "./") else ".", needed)
            if not dest_path.startswith(("/", "./")):
                dest_path = "./" + dest_path
            fix = re.sub(r"\s+\S+\s+\S+\s*$", f" {src_path} {dest_path}", line)
            msg += f"; what the ENTRYPOINT/CMD runs is under {src_path}"
        elif output:
            target_dest = (
                posixpath.join(dest, posixpath.basename(output))
                if dest.endswith("/") or dest in (".", "./")
                else dest
            )
            if dest in (".", "./"):
                target_dest = "./" + posixpath.basename(output)
            if len(e.sources) == 1:
                fix = re.sub(r"\s+\S+\s+\S+\s*$", f" {output} {target_dest}", line)
            else:
                fix = f"copy only {output}"
        else:
            fix = (
                "copy only the build output (a dist/ directory, a binary, a jar) "
                "instead of the whole tree"
            )
        yield ci.finding("CopyWholeBuildTree", e.line, msg, fix=fix, stage=dest_stage.label)


def dev_dependencies_copied(ci: CheckInput) -> Iterator[Finding]:
    for dest_stage, e, src in _shipping_edges(ci):
        for path in e.sources:
            parts = [p for p in path.split("/") if p and p != "."]
            tree = next((p for p in reversed(parts) if p in _DEP_TREES), None)
            if tree is None:
                continue
            kind = _DEP_TREES[tree]
            if kind in ("maven", "gradle"):
                msg = (
                    f"COPY --from={e.source} ships {path}, the {kind} build cache of stage "
                    f"{src.label}; it is never needed at run time"
                )
                yield ci.finding(
                    "DevDependenciesCopied",
                    e.line,
                    msg,
                    fix="copy the packaged application (target/*.jar or build/libs/*.jar) instead",
                    stage=dest_stage.label,
                )
                continue
            dev_installs = [
                (f, inst) for f, inst in installs(ci, src.index)
                if inst.dev and _same_ecosystem(kind, inst)
            ]  # fmt: skip
            if not dev_installs or (kind == "node" and pruned_to_production(ci, src.index)):
                continue
            facts, inst = dev_installs[-1]
            msg = (
                f"COPY --from={e.source} copies {path} from stage {src.label}, where line "
                f"{facts.instruction.line} installed dev dependencies too"
            )
            fix = (
                f"install production dependencies in a separate stage (`{inst.fix}`) and copy "
                f"{tree} from there, or run `{inst.fix}` in the final stage"
                if inst.fix
                else "copy the dependency tree from a stage that installed production "
                "dependencies only"
            )
            yield ci.finding("DevDependenciesCopied", e.line, msg, fix=fix, stage=dest_stage.label)
            break


def _same_ecosystem(kind: str, inst: Install) -> bool:
    return inst.ecosystem == kind or (kind == "php/ruby" and inst.tree == "vendor")


def dev_install_in_final(ci: CheckInput) -> Iterator[Finding]:
    for i in sorted(ci.roles.shipping):
        for facts in runs(ci, i):
            for cmd in facts.commands:
                inst = dependency_install(cmd, facts.env)
                if inst is None or not inst.dev:
                    continue
                line = facts.instruction.line
                if builds(ci, i):
                    # The stage needs its dev dependencies to build: the fix is a stage split.
                    fix = (
                        "install everything and build in a builder stage; in the stage that ships, "
                        "install production dependencies only "
                        f"(`{inst.fix or 'production install'}`) "
                        "and copy the build output from the builder"
                    )
                else:
                    fixed_line = (
                        _line(ci, line).replace(" ".join(cmd.words), inst.fix) if inst.fix else None
                    )
                    if fixed_line == _line(ci, line):
                        fixed_line = None
                    fix = fixed_line or (
                        f"use `{inst.fix}`" if inst.fix else "install production dependencies only"
                    )
                msg = (
                    f"`{' '.join(cmd.words[:6])}` in the stage that ships installs dev "
                    "dependencies "
                    f"into {inst.tree}"
                )
                yield ci.finding(
                    "DevInstallInFinalStage", line, msg, fix=fix, stage=ci.stages[i].label
                )


def build_tools_in_final(ci: CheckInput) -> Iterator[Finding]:
    for i in sorted(ci.roles.shipping):
        facts_list = runs(ci, i)
        removed: set[str] = set()
        for facts in facts_list:
            for cmd in facts.commands:
                removed.update(system_packages_removed(cmd))
        for facts in facts_list:
            for cmd in facts.commands:
                tools = build_tools_installed(cmd)
                _pkgs, virtual = system_packages_installed(cmd)
                if virtual and virtual in removed:
                    continue
                tools = [t for t in tools if t not in removed]
                if not tools:
                    continue
                msg = (
                    f"{', '.join(tools)} installed in the stage that ships "
                    f"(stage {ci.stages[i].label})"
                )
                fix = (
                    "install build tools in a builder stage and copy only what it produces; "
                    "if the final stage must compile (native modules), remove them in the same RUN "
                    "(`apk add --virtual .build-deps ... && ... && apk del .build-deps`)"
                )
                yield ci.finding(
                    "BuildToolsInFinalStage",
                    facts.instruction.line,
                    msg,
                    fix=fix,
                    stage=ci.stages[i].label,
                )


def build_in_single_stage(ci: CheckInput) -> Iterator[Finding]:
    if len(ci.stages) != 1:
        return
    s = ci.stages[0]
    for facts in runs(ci, 0):
        for cmd in facts.commands:
            b = build_command(cmd)
            if b is None:
                continue
            out = f" into {b.output}" if b.output else ""
            msg = (
                f"`{b.tool}` builds{out} in the only stage, so the image ships the toolchain, the "
                "sources and the dev dependencies used to build"
            )
            runtime = runtime_alternative(s.base) or s.base
            wd = workdir(ci, 0) or "/"
            output = (
                posixpath.join(wd, b.output) if b.output else f"{wd.rstrip('/')}/<build output>"
            )
            fix = (
                f"name this stage `AS builder`, then add `FROM {runtime} AS runtime` with "
                f"`COPY --from=builder {output} ...` and a production-only dependency install"
            )
            yield ci.finding(
                "BuildInSingleStage", facts.instruction.line, msg, fix=fix, stage=s.label
            )
            return


def final_on_sdk_image(ci: CheckInput) -> Iterator[Finding]:
    target = ci.plan.target
    final_root = root_image(ci, target)
    if final_root == SCRATCH:
        return
    alternative = runtime_alternative(final_root)
    if alternative is None:
        return
    builders = sorted(
        {e.source_stage for e in ci.stages[target].copies_from if e.source_stage is not None}
    )
    for b in builders:
        if root_image(ci, b) == final_root and builds(ci, b) and not builds(ci, target):
            f = ci.stages[chain(ci, target)[-1]].stage.from_
            fixed = (
                _line(ci, f.line).replace(f.base, alternative, 1)
                if f.base == final_root
                else f"FROM {alternative}"
            )
            msg = (
                f"the final stage runs on {final_root}, the same full SDK image stage "
                f"{ci.stages[b].label} builds with; the compilers and headers it holds are not "
                "needed to run the result"
            )
            yield ci.finding(
                "FinalStageOnSdkImage", f.line, msg, fix=fixed, stage=ci.stages[target].label
            )
            return


def trivial_multi_stage(ci: CheckInput) -> Iterator[Finding]:
    needed = [s for s in ci.stages if s.needed]
    if len(needed) < 2:
        return
    others = [s for s in needed if s.index != ci.plan.target]
    if any(runs(ci, s.index) for s in others):
        return
    if any(s.base_stage is not None for s in needed):
        return
    s = others[0]
    msg = (
        f"stage {s.label} runs nothing: it only copies files, so the stages add indirection "
        "without making the image smaller"
    )
    yield ci.finding(
        "TrivialMultiStage", s.stage.from_.line, msg,
        fix="copy the files straight from the build context in a single stage", stage=s.label,
    )  # fmt: skip


def dockerfile_variants(ci: CheckInput) -> Iterator[Finding]:
    root = ci.context_dir
    if root is None:
        return
    found: list[str] = []
    for folder in (root, root / "docker", root / ".docker", root / "build", root / "deploy"):
        try:
            entries = sorted(p for p in folder.iterdir() if p.is_file())
        except OSError:
            continue
        for p in entries:
            m = _VARIANT_FILE.match(p.name)
            if m is None or p.name.endswith(".dockerignore"):
                continue
            env = (m.group("a") or m.group("b") or "").lower()
            if env in _ENVIRONMENTS:
                found.append(str(p.relative_to(root)))
    if len(found) < 1 or (len(found) == 1 and not (root / "Dockerfile").exists()):
        return
    files = ", ".join(found)
    msg = f"per-environment Dockerfiles in the context: {files}"
    fix = (
        "keep one Dockerfile: a shared base stage, one stage per environment "
        "(`FROM base AS dev`, `FROM base AS prod`), ARG/ENV for the values that differ, "
        "and build with --target dev or --target prod"
    )
    yield ci.finding("DockerfileVariants", 1, msg, fix=fix)


def unused_stages(ci: CheckInput) -> Iterator[Finding]:
    last = len(ci.stages) - 1
    used = ci.roles.copied_from | ci.roles.based_on
    for s in ci.stages:
        if s.index == last or s.index in used or s.index == ci.plan.target:
            continue
        if s.name:
            msg = (
                f"stage {s.name!r} is used by no other stage: it is built only with "
                f"--target {s.name}"
            )
            fix = "keep it if it is a target (test, lint, dev); otherwise remove it"
        else:
            msg = (
                f"stage {s.index} is used by no other stage and, having no name, "
                "cannot be a --target: "
                "it is never built"
            )
            fix = "remove it, or name it (`AS name`) if it is meant to be built with --target"
        yield ci.finding("UnusedStage", s.stage.from_.line, msg, fix=fix, stage=s.label)


def _with_severity(finding: Finding, severity: Severity) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=severity)


RULES = (
    unnamed_stages,
    numeric_references,
    whole_build_tree,
    dev_dependencies_copied,
    dev_install_in_final,
    build_tools_in_final,
    build_in_single_stage,
    final_on_sdk_image,
    trivial_multi_stage,
    dockerfile_variants,
    unused_stages,
)


def check_multistage(ci: CheckInput) -> Iterator[Finding]:
    for rule_fn in RULES:
        yield from rule_fn(ci)


__all__ = ["check_multistage", "suggested_name"]
