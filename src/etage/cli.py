"""The `etage` command: argument parsing, output and error formatting, exit codes.

It holds no build logic: every command calls etage.api. Heavy modules are imported
inside the commands so that `etage --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from etage.errors import EtageError
from etage.version import __version__

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _color(stream: Any) -> bool:
    return (
        bool(getattr(stream, "isatty", lambda: False)())
        and "NO_COLOR" not in __import__("os").environ
    )


def format_error(exc: EtageError, *, color: bool = False) -> str:
    """`Dockerfile:12: error: message`, the line with a caret, then `hint: ...`."""

    def style(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    where = f"{exc.location.file}:{exc.location.line}: " if exc.location else ""
    lines = [f"{where}{style('error', '1;31')}: {exc.message}"]
    if exc.location and exc.source_line is not None:
        text = exc.source_line.rstrip("\r")
        gutter = f"{exc.location.line:>5} | "
        lines.append(gutter + text)
        indent = len(text) - len(text.lstrip())
        col = max(exc.location.column - 1, indent) if exc.location.column else indent
        width = max(len(text.rstrip()) - col, 1)
        lines.append(" " * 5 + " | " + " " * col + style("^" * width, "32"))
    if exc.hint:
        lines.append(f"{style('hint', '1;36')}: {exc.hint}")
    return "\n".join(lines)


def _fail(exc: EtageError, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(format_error(exc, color=_color(sys.stderr)), err=True)
    sys.exit(exc.exit_status)


def handle_errors(fn: F) -> F:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return fn(*args, **kwargs)
        except EtageError as exc:
            _fail(exc, debug)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(EXIT_OK)
        except Exception as exc:  # a bug: say so plainly, keep the traceback for --debug
            if debug:
                raise
            click.echo(
                f"error: internal error: {type(exc).__name__}: {exc}\n"
                "hint: this is a bug in etage; rerun with --debug and report the traceback",
                err=True,
            )
            sys.exit(70)

    return wrapper  # type: ignore[return-value]


def _common_options(fn: F) -> F:
    fn = click.option(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="Target platform (default: this machine's)."
    )(fn)
    fn = click.option(
        "--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
        help="Set a build-time variable (repeatable); a bare KEY takes its value "
        "from the environment.",
    )(fn)  # fmt: skip
    fn = click.option(
        "--target", metavar="STAGE", help="Build this stage instead of the last one."
    )(fn)
    return click.option(
        "-f", "--file", "dockerfile", metavar="PATH",
        help="The Dockerfile (default: CONTEXT/Dockerfile; '-' reads standard input).",
    )(fn)  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="etage")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
def main(debug: bool) -> None:
    """etage: build, plan and check multi-stage Dockerfiles, without a daemon."""


@main.command()
@_common_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "mermaid", "dot"]), default="text",
    show_default=True, help="Output format.",
)  # fmt: skip
@click.argument("context", default=".", type=click.Path(file_okay=False))
@handle_errors
def plan(
    context: str,
    dockerfile: str | None,
    target: str | None,
    build_args: tuple[str, ...],
    platform: str | None,
    fmt: str,
) -> None:
    """Show the stage graph: what the target needs, what is pruned, what crosses stages."""
    from etage import api
    from etage.plan.render import RENDERERS

    the_plan = api.plan_build(
        context, dockerfile, target=target, build_args=api.parse_build_args(build_args),
        platform=platform,
    )  # fmt: skip
    click.echo(RENDERERS[fmt](the_plan), nl=False)


@main.command()
@_common_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
    show_default=True, help="Output format.",
)  # fmt: skip
@click.argument("context", default=".", type=click.Path(file_okay=False))
@handle_errors
def check(
    context: str,
    dockerfile: str | None,
    target: str | None,
    build_args: tuple[str, ...],
    platform: str | None,
    fmt: str,
) -> None:
    """Check a Dockerfile against BuildKit's build checks and multi-stage practices.

    Exit status: 0 without error-level findings, 1 with, 2 on usage or parse errors.
    """
    from etage import api
    from etage.checks import render

    report = api.check(
        context, dockerfile, target=target, build_args=api.parse_build_args(build_args),
        platform=platform,
    )  # fmt: skip
    if fmt == "json":
        click.echo(render.render_json(report), nl=False)
    elif fmt == "sarif":
        click.echo(render.render_sarif(report), nl=False)
    else:
        click.echo(render.render_text(report, report.lines, color=_color(sys.stdout)), nl=False)
    sys.exit(report.exit_status)


if __name__ == "__main__":  # pragma: no cover
    main()
