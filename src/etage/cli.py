"""The `etage` command: argument parsing, output and error formatting, exit codes.

It holds no build logic: every command calls etage.api. Heavy modules are imported
inside the commands so that `etage --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from etage.errors import EtageError, UsageError
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
@click.option(
    "--root",
    envvar="ETAGE_ROOT",
    metavar="DIR",
    help="The image store (default /var/lib/etage as root, else $XDG_DATA_HOME/etage).",
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Talk plain HTTP to this registry (localhost and 127.0.0.1 always are).",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, root: str | None, insecure: tuple[str, ...]) -> None:
    """etage: build, plan and check multi-stage Dockerfiles, without a daemon."""
    ctx.obj = {"root": root, "insecure": insecure}


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
@click.option(
    "--image", "image", metavar="REF",
    help="Check a built image of the store (what it holds) instead of a Dockerfile.",
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
    image: str | None,
) -> None:
    """Check a Dockerfile against BuildKit's build checks and multi-stage practices, or
    with --image, an image for what it should not ship (dev dependencies, build tools,
    sources, caches, secrets, wasted bytes), with the layer and line that put it there.

    Exit status: 0 without error-level findings, 1 with, 2 on usage or parse errors.
    """
    from etage import api
    from etage.checks import render

    if image is not None:
        report = api.check_image(image, root=_root(), context=None if context == "." else context)
    else:
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


def _root() -> str | None:
    value = click.get_current_context().find_root().params.get("root")
    return str(value) if value else None


def _insecure() -> tuple[str, ...]:
    return tuple(click.get_current_context().find_root().params.get("insecure") or ())


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


_platform_option = click.option(
    "--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from a multi-platform image."
)


@main.command()
@click.option(
    "-f",
    "--file",
    "dockerfile",
    metavar="PATH",
    help="The Dockerfile (default: CONTEXT/Dockerfile).",
)
@click.option(
    "-t",
    "--tag",
    "tags",
    multiple=True,
    metavar="NAME[:TAG]",
    help="Name the image in the store (repeatable).",
)
@click.option("--target", metavar="STAGE", help="Build this stage instead of the last one.")
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a build-time variable (repeatable).",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add a label to the image (repeatable).",
)
@click.option(
    "-o", "--output", "outputs", multiple=True, metavar="SPEC",
    help="type=oci|docker,dest=FILE; type=local,dest=DIR; "
    "type=image,name=REF,push=true (repeatable).",
)  # fmt: skip
@click.option("--push", is_flag=True, help="Push the -t names to their registries.")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option(
    "--no-cache-filter",
    multiple=True,
    metavar="STAGE",
    help="Do not use the cache for these stages.",
)
@click.option("--pull", is_flag=True, help="Pull base images even if they are in the store.")
@_platform_option
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="id=ID,src=FILE|env=VAR",
    help="A secret for RUN --mount=type=secret.",
)
@click.option(
    "--build-context", "contexts", multiple=True, metavar="NAME=VALUE",
    help="NAME=docker-image://REF, NAME=oci-layout:///PATH[:TAG|@DIGEST] or NAME=DIR.",
)  # fmt: skip
@click.option(
    "--progress", type=click.Choice(["auto", "tty", "plain", "quiet", "rawjson"]), default="auto",
    show_default=True, help="How to show progress.",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Print only the image digest.")
@click.option("--iidfile", metavar="FILE", help="Write the image digest to FILE.")
@click.option("--metadata-file", metavar="FILE", help="Write build metadata (JSON) to FILE.")
@click.option(
    "--jobs",
    type=int,
    default=0,
    help="At most N stages at once (default: every ready stage, as BuildKit).",
)
@click.option(
    "--explain-cache", is_flag=True, help="Say for each step why it hit or missed the cache."
)
@click.argument("context", default=".", type=click.Path(file_okay=False))
@handle_errors
def build(
    context: str, dockerfile: str | None, tags: tuple[str, ...], target: str | None,
    build_args: tuple[str, ...], labels: tuple[str, ...], outputs: tuple[str, ...], push: bool,
    no_cache: bool, no_cache_filter: tuple[str, ...], pull: bool, platform: str | None,
    secrets: tuple[str, ...], contexts: tuple[str, ...], progress: str, quiet: bool,
    iidfile: str | None, metadata_file: str | None, jobs: int, explain_cache: bool,
) -> None:  # fmt: skip
    """Build an image from a Dockerfile, without a daemon."""
    from etage import api
    from etage.engine.progress import make_listener

    label_map = {}
    for item in labels:
        key, eq, value = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--label")
        label_map[key] = value
    all_outputs = list(outputs)
    if push:
        if not tags:
            raise UsageError("tag is needed when pushing to registry", hint="add -t REPO:TAG")
        all_outputs.append("type=image,name=" + ";".join(tags) + ",push=true")
    quiet = quiet or progress == "quiet"
    listener = make_listener("quiet" if quiet else progress)
    try:
        result = api.build(
            context, dockerfile, target=target, build_args=api.parse_build_args(build_args),
            tags=tags, outputs=all_outputs, labels=label_map, no_cache=no_cache,
            no_cache_filter=no_cache_filter, pull=pull, platform=platform, secrets=secrets,
            build_contexts=contexts, jobs=jobs, root=_root(), insecure_registries=_insecure(),
            iidfile=iidfile, metadata_file=metadata_file, listener=listener,
            explain_cache=explain_cache,
        )  # fmt: skip
    except EtageError as exc:
        if not isinstance(exc, UsageError):
            exc.exit_status = 1  # every failed build is status 1, as docker build's
        raise
    finally:
        if listener is not None:
            listener.close()
    if quiet:
        click.echo(result.digest)
    else:
        names = f" ({', '.join(result.names)})" if result.names else ""
        click.echo(f"{result.digest}{names}")


@main.command()
@_platform_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
@click.option("--jobs", default=4, show_default=True, help="Blobs downloaded in parallel.")
@click.argument("reference")
@handle_errors
def pull(reference: str, platform: str | None, quiet: bool, jobs: int) -> None:
    """Pull an image from a registry into the local store."""
    from etage import api
    from etage.progress import make_progress

    progress = make_progress(f"Pulling {reference}", quiet=quiet)
    try:
        image = api.pull(
            reference, root=_root(), platform=platform, insecure_registries=_insecure(),
            progress=progress, jobs=jobs,
        )  # fmt: skip
    finally:
        if progress is not None:
            progress.close()
    if quiet:
        click.echo(str(image.top.digest))
    else:
        click.echo(f"Pulled {image.name} ({image.config.platform}) digest {image.top.digest}")


@main.command()
@_platform_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the manifest digest.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "docker"]),
    help="Rewrite the manifest in this format (default: as stored).",
)
@click.argument("image")
@click.argument("destination", required=False)
@handle_errors
def push(
    image: str, destination: str | None, platform: str | None, quiet: bool, fmt: str | None
) -> None:
    """Push IMAGE (NAME[:TAG], or an ID) to its registry, or to DESTINATION."""
    from etage import api
    from etage.progress import make_progress

    progress = make_progress(f"Pushing {destination or image}", quiet=quiet)
    try:
        name, digest = api.push(
            image, destination, root=_root(), platform=platform,
            insecure_registries=_insecure(), progress=progress, fmt=fmt,
        )  # fmt: skip
    finally:
        if progress is not None:
            progress.close()
    click.echo(digest if quiet else f"Pushed {name} digest {digest}")


@main.command()
@_platform_option
@click.option("--remote", is_flag=True, help="Ask the registry even if the image is in the store.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.argument("reference")
@handle_errors
def inspect(reference: str, platform: str | None, remote: bool, fmt: str) -> None:
    """Show an image's manifest, config and layers (from the store, else the registry)."""
    import json

    from etage import api

    data = api.inspect(
        reference, root=_root(), platform=platform, remote=remote,
        insecure_registries=_insecure(),
    )  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    config = data["config"]
    assert isinstance(config, dict)
    cfg = config.get("config") or {}
    click.echo(f"Name:      {data['name']}  ({data['source']})")
    click.echo(f"Digest:    {data['digest']}")
    if data["manifest_digest"] != data["digest"]:
        click.echo(f"Manifest:  {data['manifest_digest']}")
    click.echo(f"Type:      {data['mediaType']}")
    click.echo(f"Platform:  {data['platform']}")
    click.echo(f"Created:   {data['created'] or '-'}")
    click.echo(f"Size:      {_human(int(data['size']))} compressed")  # type: ignore[call-overload]
    for key in ("Entrypoint", "Cmd", "WorkingDir", "User", "Env", "ExposedPorts"):
        if cfg.get(key):
            click.echo(f"{key + ':':<11}{cfg[key]}")
    layers = data["layers"]
    assert isinstance(layers, list)
    click.echo(f"Layers ({len(layers)}):")
    for layer in layers:
        click.echo(f"  {layer['digest']}  {_human(layer['size']):>9}  {layer['mediaType']}")


@main.command()
@_platform_option
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="The tar to write (or a directory for an OCI layout).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["oci", "docker"]), default="oci", show_default=True
)
@click.argument("references", nargs=-1, required=True)
@handle_errors
def save(references: tuple[str, ...], output: str, fmt: str, platform: str | None) -> None:
    """Save images to an OCI layout (tar or directory) or a docker-archive tar."""
    from etage import api

    saved = api.save(list(references), output, fmt=fmt, root=_root(), platform=platform)
    click.echo(f"Saved {len(saved)} image{'s' if len(saved) != 1 else ''} to {output} ({fmt})")


@main.command()
@click.option(
    "-i",
    "--input",
    "path",
    required=True,
    metavar="FILE",
    help="An OCI layout (tar or directory) or a docker-archive tar.",
)
@handle_errors
def load(path: str) -> None:
    """Load images from an OCI layout or a docker-archive (docker save) into the store."""
    from etage import api

    for name in api.load(path, root=_root()):
        click.echo(f"Loaded {name}")


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@handle_errors
def images(fmt: str) -> None:
    """List the images in the store."""
    import json
    from dataclasses import asdict

    from etage import api

    rows = api.images(root=_root())
    if fmt == "json":
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    click.echo(f"{'NAME':<50} {'DIGEST':<19} {'PLATFORM':<14} {'CREATED':<20} SIZE")
    for r in rows:
        short, created = r.digest[7:19], r.created[:19]
        click.echo(f"{r.name:<50} {short:<19} {r.platform:<14} {created:<20} {_human(r.size)}")


@main.command()
@click.argument("references", nargs=-1, required=True)
@handle_errors
def rmi(references: tuple[str, ...]) -> None:
    """Remove images from the store (and the blobs nothing else uses)."""
    from etage import api

    removed, freed = api.rmi(list(references), root=_root())
    for name in removed:
        click.echo(f"Untagged {name}")
    click.echo(f"Freed {_human(freed)}")


@main.command()
@click.argument("source")
@click.argument("target")
@handle_errors
def tag(source: str, target: str) -> None:
    """Give the image SOURCE another name TARGET."""
    from etage import api

    click.echo(f"Tagged {api.tag(source, target, root=_root())}")


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@handle_errors
def df(fmt: str) -> None:
    """Show the disk space the store uses."""
    import json
    from dataclasses import asdict

    from etage import api

    u = api.df(root=_root())
    c = api.build_cache_usage(root=_root())
    if fmt == "json":
        click.echo(json.dumps({**asdict(u), "build_cache": asdict(c)}, indent=2))
        return
    click.echo(f"Images (references):  {u.refs}")
    click.echo(f"Blobs:                {u.blobs} ({_human(u.bytes)})")
    click.echo(f"  manifests/indexes:  {u.manifests}")
    click.echo(f"  configs:            {u.configs}")
    click.echo(f"  layers:             {u.layers} ({_human(u.layer_bytes)})")
    click.echo(f"Reclaimable:          {u.unreachable} blobs ({_human(u.unreachable_bytes)})")
    click.echo(f"Interrupted writes:   {u.ingest_files} ({_human(u.ingest_bytes)})")
    click.echo(f"Build cache:          {c.entries} steps, {c.snapshots} snapshots")
    click.echo(f"  snapshots:          {_human(c.snapshot_bytes)}")
    click.echo(f"  RUN cache mounts:   {c.cache_mounts} ({_human(c.cache_mount_bytes)})")


@main.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option(
    "--build-cache",
    is_flag=True,
    help="Also remove the build cache (cached steps and their snapshots; images keep "
    "their layers).",
)
@click.option("--all", "everything", is_flag=True, help="With --build-cache: RUN cache mounts too.")
@handle_errors
def prune(dry_run: bool, build_cache: bool, everything: bool) -> None:
    """Remove blobs no image uses and leftovers of interrupted writes."""
    from etage import api

    verb = "Would free" if dry_run else "Freed"
    if everything and not build_cache:
        raise UsageError(
            "--all only applies with --build-cache", hint="etage prune --build-cache --all"
        )
    if build_cache:
        c = api.prune_build_cache(root=_root(), cache_mounts=everything, dry_run=dry_run)
        mounts = f", {c.cache_mounts} RUN cache mounts" if everything else ""
        click.echo(
            f"{verb} {_human(c.bytes)} of build cache: {c.entries} cached steps, "
            f"{c.snapshots} snapshots{mounts}"
        )
    result = api.prune(root=_root(), dry_run=dry_run)
    click.echo(
        f"{verb} {_human(result.bytes)}: {len(result.removed)} blobs, "
        f"{result.stale_ingests} interrupted writes"
    )


@main.command()
@_platform_option
@click.argument("image")
@click.argument("directory")
@handle_errors
def unpack(image: str, directory: str, platform: str | None) -> None:
    """Extract IMAGE's filesystem into DIRECTORY (layers applied safely, in order)."""
    from etage import api

    entries = api.unpack(image, directory, root=_root(), platform=platform)
    click.echo(f"Unpacked {image} into {directory} ({entries} entries)")


@main.command()
@click.option("--quick", is_flag=True, help="Check presence and sizes only, not digests.")
@click.argument("references", nargs=-1)
@handle_errors
def verify(references: tuple[str, ...], quick: bool) -> None:
    """Check images (default: the whole store): blobs present and matching their digests.

    Exit status 1 when a problem is found.
    """
    from etage import api

    report = api.verify(list(references), root=_root(), deep=not quick)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    partial = (
        f", {report.partial_downloads} interrupted downloads to resume"
        if report.partial_downloads
        else ""
    )
    state = "consistent" if report.ok else f"{len(report.problems)} problems"
    click.echo(f"{report.images} images, {report.blobs_checked} blobs verified: {state}{partial}")
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument("image", required=False)
@click.option("--last", is_flag=True, help="The image of the last build in this store.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
    show_default=True, help="text for a terminal, json for tools, html: a standalone page.",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False),
    help="Write the report to this file instead of standard output.",
)  # fmt: skip
@handle_errors
def report(image: str | None, last: bool, fmt: str, output: str | None) -> None:
    """What an image shipped and why: size by stage, layer and directory, and the findings
    of the image checks, with the Dockerfile line behind each."""
    from pathlib import Path

    from etage import api
    from etage.insight import report_html, report_text

    if (image is None) == (not last):
        raise UsageError("give an IMAGE or --last (the image of the last build)")
    data = api.report_data(image, root=_root())
    text = {
        "text": report_text.render_text,
        "json": report_text.render_json,
        "html": report_html.render_html,
    }[fmt](data)
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.option(
    "-f", "--file", "file", default="Dockerfile", show_default=True,
    type=click.Path(dir_okay=False), help="The Dockerfile to rewrite.",
)  # fmt: skip
@click.option("--diff", is_flag=True, help="Print a unified diff instead of writing the file.")
@handle_errors
def fix(file: str, diff: bool) -> None:
    """Rewrite a Dockerfile: name unnamed stages by role, --from=N to names, keyword and
    AS casing, shell-form CMD/ENTRYPOINT to exec form where that is safe.

    Comments, blank lines and everything else are left as they are. Exit status: 0 when
    the file was fixed or needed nothing, 1 with --diff when it would change, 2 on a bad file.
    """
    import difflib
    from pathlib import Path

    from etage import api

    path = Path(file)
    result = api.fix(path)
    if result.text == result.source:
        click.echo(f"{file}: nothing to fix", err=True)
        return
    if diff:
        lines = difflib.unified_diff(
            result.source.splitlines(keepends=True),
            result.text.splitlines(keepends=True),
            f"a/{file}",
            f"b/{file}",
        )
        click.echo("".join(lines), nl=False)
        sys.exit(EXIT_FINDINGS)
    path.write_bytes(result.text.encode("utf-8"))
    for change in result.changes:
        click.echo(f"{file}:{change.line}: {change.description}", err=True)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False),
    help="Where to write the merged Dockerfile ('-' for standard output).",
)  # fmt: skip
@handle_errors
def merge(files: tuple[str, ...], output: str) -> None:
    """Merge per-environment Dockerfiles (Dockerfile.dev, Dockerfile.prod...) into one
    multi-stage Dockerfile: a shared stage for their common start, one target per file."""
    from pathlib import Path

    from etage import api

    result = api.merge([Path(f) for f in files])
    if output == "-":
        click.echo(result.text, nl=False)
        sys.stdout.flush()  # before the build commands on stderr
    else:
        Path(output).write_bytes(result.text.encode("utf-8"))
    for target in result.targets:
        args = "".join(f" --build-arg {k}={v}" for k, v in target.build_args)
        click.echo(f"{target.source}: etage build --target {target.name}{args} ...", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
