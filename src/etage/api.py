"""The composition root: read a Dockerfile and its context, plan, check.

The CLI and Python callers use these functions; they hold no formatting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from etage.dockerfile.parse import Dockerfile, parse_dockerfile
from etage.errors import ContextError, UsageError
from etage.plan.graph import PlanOptions, build_plan
from etage.plan.model import BuildPlan
from etage.platforms import Platform

if TYPE_CHECKING:
    from etage.checks.runner import CheckReport


@dataclass(frozen=True, slots=True)
class Source:
    """Where a Dockerfile came from."""

    context: Path
    dockerfile: Path | None  # None when read from stdin
    display_name: str  # how messages name it: "Dockerfile", "app/Dockerfile", "-"


def locate(context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None) -> Source:
    """Resolve the context directory and the Dockerfile as `docker build` does."""
    ctx = Path(context)
    if not ctx.exists():
        raise ContextError(f"build context {str(ctx)!r} does not exist")
    if not ctx.is_dir():
        raise ContextError(f"build context {str(ctx)!r} is not a directory")
    if dockerfile is not None and str(dockerfile) == "-":
        return Source(ctx, None, "-")
    path = Path(dockerfile) if dockerfile is not None else ctx / "Dockerfile"
    if dockerfile is None and not path.exists() and (ctx / "dockerfile").is_file():
        path = ctx / "dockerfile"  # the docker CLI falls back to the lower-case name
    if not path.exists():
        hint = None
        if dockerfile is None:
            candidates = sorted(p.name for p in ctx.glob("*ockerfile*") if p.is_file())
            hint = (
                f"use -f to pick one of: {', '.join(candidates)}"
                if candidates
                else "create a Dockerfile or pass -f PATH"
            )
        raise ContextError(f"no Dockerfile at {str(path)!r}", hint=hint)
    if path.is_dir():
        raise ContextError(f"{str(path)!r} is a directory, not a Dockerfile")
    # Name the file as the user sees it: relative to the working directory when it is
    # below it, else relative to the context (as `docker build` names it), else in full.
    display = str(path)
    for base in (Path.cwd(), ctx):
        try:
            rel = os.path.relpath(path.resolve(), base.resolve())
        except ValueError:
            continue
        if not rel.startswith(".."):
            display = rel
            break
    return Source(ctx, path, display)


def read_dockerfile(source: Source) -> Dockerfile:
    if source.dockerfile is None:
        data = sys.stdin.buffer.read()
    else:
        try:
            data = source.dockerfile.read_bytes()
        except OSError as exc:
            raise ContextError(f"cannot read {source.display_name}: {exc.strerror}") from None
    # Keep bytes that are not UTF-8 as they are (BuildKit does not decode the file).
    text = data.decode("utf-8", "surrogateescape")
    return parse_dockerfile(text, source.display_name)


def parse_build_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` items; a bare `KEY` takes its value from the environment (docker's rule)."""
    out: dict[str, str] = {}
    for item in pairs:
        key, has_value, value = item.partition("=")
        if key == "":
            raise UsageError(f"invalid --build-arg {item!r}", hint="use --build-arg KEY=VALUE")
        if has_value:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def plan_build(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> BuildPlan:
    source = locate(context, dockerfile)
    df = read_dockerfile(source)
    return build_plan(
        df,
        PlanOptions(
            target=target,
            build_args=dict(build_args or {}),
            target_platform=Platform.parse(platform) if platform else None,
        ),
    )


def check(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> CheckReport:
    """Run the static checks on a Dockerfile and its build context."""
    from etage.checks.context import CheckInput
    from etage.checks.runner import run_checks
    from etage.runtime.context import load_ignore

    source = locate(context, dockerfile)
    df = read_dockerfile(source)
    options = PlanOptions(
        target=target,
        build_args=dict(build_args or {}),
        target_platform=Platform.parse(platform) if platform else None,
    )
    the_plan = build_plan(df, options)
    default_plan = build_plan(df, replace(options, build_args={})) if build_args else the_plan
    ignore = load_ignore(source.context, source.dockerfile)
    ci = CheckInput(
        the_plan,
        context_dir=source.context,
        ignore=ignore,
        explicit_target=target is not None,
        default_plan=default_plan,
    )
    return run_checks(ci)
