"""`etage build` of a request whose inputs have not changed, answered before the CLI is
even imported: the no-op rebuild costs little more than Python's start-up.

Only the common shapes of the command line are recognised here (a context, -f, -t,
--target, --build-arg, --label, --iidfile, --metadata-file, -q and --progress
plain|quiet, or auto when stderr is no terminal); anything else, or a record that does
not hold, returns None and the normal CLI runs (which replays too, through etage.api).
The request key and the record are etage.cache.replay's, shared with the API; the
output is the plain progress of a fully cached build. Stdlib only.
"""

from __future__ import annotations

import os
import sys

from etage.cache import replay

TYPE_CHECKING = False  # typing is not imported on this path
if TYPE_CHECKING:
    from typing import Any

_VALUE_FLAGS = {
    "-f": "file", "--file": "file", "-t": "tag", "--tag": "tag", "--target": "target",
    "--build-arg": "build_arg", "--label": "label", "--iidfile": "iidfile",
    "--metadata-file": "metadata_file", "--progress": "progress",
}  # fmt: skip


def _parse(argv: list[str]) -> dict[str, list[str]] | None:
    """`[--root R] build [options] [CONTEXT]` -> values by option, or None."""
    opts: dict[str, list[str]] = {}
    args = list(argv)
    while args and args[0] != "build":
        head = args.pop(0)
        if head == "--root" and args:
            opts["root"] = [args.pop(0)]
        elif head.startswith("--root="):
            opts["root"] = [head.partition("=")[2]]
        else:
            return None
    if not args:
        return None
    args.pop(0)
    positional: list[str] = []
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if arg in ("-q", "--quiet"):
            opts["quiet"] = ["1"]
        elif name in _VALUE_FLAGS and name.startswith("--") and eq:
            opts.setdefault(_VALUE_FLAGS[name], []).append(inline)
        elif arg in _VALUE_FLAGS and args:
            opts.setdefault(_VALUE_FLAGS[arg], []).append(args.pop(0))
        elif arg.startswith("-") or positional:
            return None  # another option (or its short form glued): the CLI knows
        else:
            positional.append(arg)
    opts["context"] = positional or ["."]
    return opts


def _dockerfile(context: str, given: str | None) -> tuple[str, str] | None:
    """(path, display name) as etage.api.locate finds them, or None to let it."""
    if not os.path.isdir(context) or given == "-":
        return None
    path = given if given is not None else os.path.join(context, "Dockerfile")
    if given is None and not os.path.exists(path):
        path = os.path.join(context, "dockerfile")
    if not os.path.isfile(path):
        return None
    display = path
    real = os.path.realpath(path)
    for base in (os.getcwd(), context):
        rel = os.path.relpath(real, os.path.realpath(base))
        if not rel.startswith(".."):
            display = rel
            break
    return path, display


def _pairs(items: list[str], *, from_env: bool) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            return None
        if eq:
            out[key] = value
        elif not from_env:
            return None
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def try_build(argv: list[str]) -> int | None:
    """Replay `etage build ...` (exit status 0), or None to take the normal path."""
    opts = _parse(argv)
    if opts is None:
        return None
    progress = (opts.get("progress") or ["auto"])[-1]
    quiet = "quiet" in opts or progress == "quiet"
    if not quiet and progress not in ("plain", "auto"):
        return None
    if progress == "auto" and not quiet and sys.stderr.isatty():
        return None  # the live view belongs to the CLI
    context = opts["context"][0]
    files_given = opts.get("file")
    found = _dockerfile(context, files_given[-1] if files_given else None)
    build_args = _pairs(opts.get("build_arg", []), from_env=True)
    labels = _pairs(opts.get("label", []), from_env=False)
    if found is None or build_args is None or labels is None:
        return None
    path, display = found
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    real_context, real_dockerfile = os.path.realpath(context), os.path.realpath(path)
    key = replay.request_fingerprint(
        context=real_context, dockerfile=real_dockerfile, display=display,
        target=opts["target"][-1] if "target" in opts else None, build_args=build_args,
        tags=opts.get("tag", []), outputs=[], labels=labels, platform=None, secrets=[],
        contexts=[], epoch=None, insecure=[],
    )  # fmt: skip
    root = os.path.abspath((opts.get("root") or [""])[0] or _default_root())
    doc = replay.lookup(root, key)
    files = replay.input_files(real_context, real_dockerfile, data)
    if doc is None or [list(f) for f in files] != doc["files"][: len(files)]:
        return None
    replay.note_last_build(root, doc["digest"])
    _emit(doc, opts, quiet)
    return 0


def _default_root() -> str:
    # etage.oci.root.default_root, without pathlib (this path must stay light)
    env = os.environ.get("ETAGE_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/etage"
    home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(home, "etage")


def _emit(doc: dict[str, Any], opts: dict[str, list[str]], quiet: bool) -> None:
    import json

    digest = str(doc["digest"])
    names = [str(n) for n in doc["names"]]
    for option in ("iidfile", "metadata_file"):
        if option in opts:
            target = opts[option][-1]
            if option == "iidfile":
                with open(target, "w") as f:
                    f.write(digest)
            else:
                with open(target, "w") as f:
                    f.write(json.dumps(doc["metadata"], indent=2) + "\n")
    if quiet:
        print(digest)
        return
    head = doc["started"]
    lines = []
    pruned = f" (pruned: {', '.join(head['pruned'])})" if head["pruned"] else ""
    lines.append(f"building target {head['target']}: stages {', '.join(head['stages'])}{pruned}")
    for n, (_step, stage, _line, text) in enumerate(doc["steps"], 1):
        lines += [f"#{n} [{stage}] {text}", f"#{n} CACHED"]
    lines.append(f"built {digest} in 0.00s")
    summary = doc["metadata"].get("etage.build.summary")
    if summary is not None:
        from etage.insight.summary import summary_lines

        lines += summary_lines(summary)
    warnings = doc["warnings"]
    if warnings:
        joined = ", ".join(warnings)
        lines.append(f"WARNING: build args not consumed by any ARG: {joined}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
    print(f"{digest} ({', '.join(names)})" if names else digest)
