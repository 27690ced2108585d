"""Filesystem steps: RUN, COPY, ADD and WORKDIR, each cached by its key.

A step's key names everything that can change its result: the previous step's key,
the instruction after expansion, and what it reads (the content checksum of copied
sources, mounted sources, environment, user, working directory, network, platform).
On a hit the committed snapshot is reused; on a miss the step runs in a working tree
(an overlay over the previous snapshot) that is committed as the new snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etage.cache.keys import CacheKey, explain_difference, make_key
from etage.dockerfile import instructions as ins
from etage.dockerfile.convert import chomp_heredoc
from etage.dockerfile.lexer import parse_heredoc_word
from etage.engine.history import run_command_string, timestamp
from etage.engine.mounts import RunMount, parse_run_mount
from etage.engine.options import find_context
from etage.engine.result import StepResult
from etage.engine.state import LayerRef, StageState
from etage.errors import EtageError
from etage.events import StepDone, StepLog, StepStarted
from etage.plan.evaluate import PROXY_ARGS
from etage.runtime.spec import Mount, ProcessSpec

if TYPE_CHECKING:
    from etage.engine.stage import StageBuilder
    from etage.runtime.checksum import ChecksumResult
    from etage.runtime.copy import CopyRequest
    from etage.runtime.snapshots import Snapshot


class StepFailed(EtageError):
    exit_status = 1


def dispatch(b: StageBuilder, state: StageState, instruction: ins.Instruction, n: int) -> None:
    match instruction:
        case ins.Workdir():
            _workdir(b, state, instruction, n)
        case ins.Run():
            _run(b, state, instruction, n)
        case ins.Copy() | ins.Add():
            _copy(b, state, instruction, n)
        case _:  # pragma: no cover - the caller routes only filesystem instructions here
            raise AssertionError(instruction)


# ---- the cached step ------------------------------------------------------------------------


def _step(  # noqa: PLR0917 - the call sites read as one sentence
    b: StageBuilder,
    state: StageState,
    instruction: ins.Instruction,
    n: int,
    text: str,
    key: CacheKey,
    action: Callable[[Path], None],
    produce: Callable[[], Snapshot] | None = None,
) -> None:
    """Run (or find in the cache) one filesystem step: `action` writes into a working
    tree on the stage's snapshot, or `produce` makes the step's snapshot itself."""
    s = b.s
    step = f"{b.label}#{n}"
    slot = f"{s.dockerfile_key}|{b.label}|{n}"
    s.emit(StepStarted(step, b.label, instruction.line, text))
    started = time.monotonic()
    snapshot = None
    if not b.no_cache:
        found = s.cache.lookup(key)
        snapshot = s.snapshots.get(found) if found else None
    cached = snapshot is not None
    explain = ""
    if snapshot is None:
        if s.explain:
            previous = s.cache.previous(slot)
            explain = explain_difference(
                previous[0] if previous else None,
                key,
                previous[1] if previous else None,
                s.cache.checksum_manifest,
            )
        try:
            if produce is not None:
                snapshot = produce()
            else:
                with s.snapshotter.prepare(state.snapshot) as tree:
                    action(Path(tree.path))
                    snapshot = tree.commit()
        except BaseException as exc:
            s.emit(
                StepDone(
                    step,
                    cached=False,
                    duration=time.monotonic() - started,
                    error=str(exc) or type(exc).__name__,
                )
            )
            raise
        s.cache.record(key, snapshot.id)
    elif s.explain:
        explain = "cache hit"
    s.cache.remember_slot(slot, key)
    made = s.cache.created(key)
    state.step_created = timestamp(int(made) if made is not None else None)
    duration = time.monotonic() - started
    state.snapshot = snapshot
    state.key = key
    state.layers.append(LayerRef(snapshot, None, text))
    s.emit(StepDone(step, cached=cached, duration=duration, size=snapshot.size, explain=explain))
    b.steps.append(
        StepResult(
            step,
            instruction.line,
            text,
            cached,
            duration,
            key.digest,
            snapshot.id,
            snapshot.size,
            explain,
        )
    )


# ---- WORKDIR ---------------------------------------------------------------------------------


def _workdir(b: StageBuilder, state: StageState, instruction: ins.Workdir, n: int) -> None:
    from etage.engine.stage import normalize_workdir

    words = b.evaluator.apply(instruction, state.env).words
    path = normalize_workdir(state.workdir, words[0])
    state.config["WorkingDir"] = path
    state.workdir_set = True
    if path == "/":
        b._history(state, "WORKDIR /", layer=False)
        return
    user = state.user
    key = make_key("workdir", state.key, {"path": path, "user": user})

    def action(root: Path) -> None:
        _mkdir_p(root, path, user)

    _step(b, state, instruction, n, f"WORKDIR {path}", key, action)
    b._history(state, f"WORKDIR {path}", layer=True, created=state.step_created)


def _mkdir_p(root: Path, path: str, user: str) -> None:
    """mkdir -p inside the root (symlinks resolved inside it); new directories 0755,
    owned by the stage's USER as BuildKit's WORKDIR does."""
    from etage.oci.securejoin import Root, clean_parts
    from etage.runtime.users import resolve_user

    uid = gid = 0
    if user:
        resolved = resolve_user(root, user)
        uid, gid = resolved.uid, resolved.gid
    parts = clean_parts(path)
    with Root(root) as handle:
        for i in range(1, len(parts) + 1):
            found = handle.open_dir(parts[:i])
            if found is not None:
                os.close(found[0])
                continue
            made = handle.open_dir(parts[:i], create=True)
            assert made is not None
            fd, _real = made
            try:
                if uid or gid:
                    os.chown(f"/proc/self/fd/{fd}", uid, gid)
            finally:
                os.close(fd)


# ---- RUN -------------------------------------------------------------------------------------


def _shell_args(state: StageState, run: ins.Run, files: list[tuple[str, bytes]]) -> list[str]:
    """BuildKit's dispatchRun: the argv, heredocs folded in (or run as a script)."""
    args = list(run.command)
    if run.files:
        if len(args) != 1 or not run.shell_form:
            raise EtageError(f"parsing produced an invalid run command: {args}")
        if parse_heredoc_word(args[0]) is not None:
            first = run.files[0]
            data = chomp_heredoc(first.content) if first.chomp else first.content
            if data.startswith("#!"):
                files.append((first.name, data.encode()))
                args = [f"/dev/pipes/{first.name}"]
            else:
                args = [data]
        else:
            text = args[0]
            for f in run.files:
                text += "\n" + f.content + f.name
            args = [text]
    if run.shell_form:
        args = [*state.shell, *args]
    return args


def _run(b: StageBuilder, state: StageState, run: ins.Run, n: int) -> None:
    s = b.s
    expanded_mounts = list(b.evaluator.apply(run, state.env).words)
    mounts = [parse_run_mount(m) for m in expanded_mounts]
    files: list[tuple[str, bytes]] = []
    args = _shell_args(state, run, files)
    env_map = dict(state.env.env)
    declared = {k for k, _ in state.build_args}
    proxies = {
        k: v for k, v in s.options.build_args.items() if k in PROXY_ARGS and k not in declared
    }
    env = [f"{k}={v}" for k, v in env_map.items()]
    network = "none" if run.network == "none" else "host"
    with contextlib.ExitStack() as stack:
        runtime_mounts, mount_keys, secret_env = _resolve_mounts(b, state, mounts, stack)
        key_inputs: dict[str, Any] = {
            "args": args,
            "env": env,
            "cwd": state.workdir,
            "user": state.user,
            "network": network,
            "security": run.security,
            "mounts": mount_keys,
            "platform": str(s.platform),
            "files": [[name, hashlib.sha256(data).hexdigest()] for name, data in files],
        }
        key = make_key("run", state.key, key_inputs)
        for name, data in files:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-heredoc-")))
            script = tmp / name
            script.write_bytes(data)
            script.chmod(0o755)
            runtime_mounts.append(Mount("bind", f"/dev/pipes/{name}", source=script))
        step_env = [*env, *(f"{k}={v}" for k, v in proxies.items()), *secret_env]
        text = "RUN " + run_command_string(args, state.build_args, env_map)
        step_id = f"{b.label}#{n}"

        def action(root: Path) -> None:
            spec = ProcessSpec(
                args=tuple(args),
                rootfs=root,
                env=tuple(step_env),
                cwd=state.workdir,
                user=state.user,
                network=network,
                mounts=tuple(runtime_mounts),
                security=run.security,
            )

            def output(data: bytes) -> None:
                s.emit(StepLog(step_id, data))

            result = s.executor.run(spec, output=output, cancel=s.cancel)
            if s.cancel.is_set():
                raise KeyboardInterrupt
            if result.exit_code != 0 or result.signal:
                shown = " ".join(args)
                tail = "\n".join(result.output_tail[-10:])
                why = (
                    f"exit code: {result.exit_code}"
                    if not result.signal
                    else f"killed by signal {result.signal}"
                )
                raise StepFailed(
                    f'stage {b.label}: process "{shown}" did not complete successfully: {why}',
                    hint=("last output:\n" + tail) if tail else None,
                )

        _step(b, state, run, n, _display(run), key, action)
    b._history(state, text + " # buildkit", layer=True, created=state.step_created)


def _display(instruction: ins.Instruction) -> str:
    text = instruction.node.original.strip()
    return text if len(text) < 200 else text[:197] + "..."


def _resolve_mounts(
    b: StageBuilder, state: StageState, mounts: list[RunMount], stack: contextlib.ExitStack
) -> tuple[list[Mount], list[dict[str, Any]], list[str]]:
    s = b.s
    runtime: list[Mount] = []
    keys: list[dict[str, Any]] = []
    secret_env: list[str] = []
    for m in mounts:
        target = (
            m.target
            if m.target.startswith("/") or not m.target
            else posixpath.join(state.workdir, m.target)
        )
        if m.type == "ssh":
            raise EtageError(
                "RUN --mount=type=ssh is not supported yet",
                hint="use --mount=type=secret for credentials,"
                " or fetch dependencies in the context",
            )
        if m.type == "tmpfs":
            runtime.append(Mount("tmpfs", target, size=m.size))
            keys.append({"type": "tmpfs", "target": target, "size": m.size})
        elif m.type == "secret":
            data = s.secrets.get(m.id)
            if data is None:
                if m.required:
                    raise EtageError(
                        f"secret {m.id} is required but was not given",
                        hint=f"pass --secret id={m.id},src=FILE",
                    )
                continue
            if m.env:
                secret_env.append(f"{m.env}={data.decode('utf-8', 'replace')}")
            if m.target:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-secret-")))
                path = tmp / "secret"
                path.write_bytes(data)
                path.chmod(m.mode if m.mode is not None else 0o400)
                os.chown(path, m.uid or 0, m.gid or 0)
                runtime.append(
                    Mount(
                        "secret",
                        target,
                        source=path,
                        mode=m.mode or 0o400,
                        uid=m.uid or 0,
                        gid=m.gid or 0,
                    )
                )
            keys.append({"type": "secret", "id": m.id, "target": m.target, "env": m.env or ""})
        elif m.type == "cache":
            directory = _cache_dir(b, m, stack)
            runtime.append(Mount("cache", target, source=directory, readonly=m.readonly))
            keys.append(
                {
                    "type": "cache",
                    "target": target,
                    "id": m.id,
                    "sharing": m.sharing,
                    "readonly": m.readonly,
                }
            )
        else:  # bind
            root, origin, include_owner, ignore = _source_root(b, m.from_, stack)
            source = m.source or "/"
            checksum, summed = _checksum(
                b, root, (source,), ignore=ignore, include_ownership=include_owner
            )
            if summed is not None and origin.startswith("context"):
                s.read_context(summed.paths)
            host = _resolve_inside(root, source)
            if ignore is not None and ignore.patterns:
                # The context BuildKit mounts is the one it received: .dockerignore'd
                # files are not in it. A filtered copy (writable, so rw needs no other).
                host = _filtered_copy(root, source, ignore, host.is_dir(), stack)
            elif not m.readonly:
                copy_dir = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-rwbind-"))
                )
                dest = copy_dir / "src"
                _copy_tree(host, dest)
                host = dest
            runtime.append(Mount("bind", target, source=host, readonly=m.readonly))
            keys.append(
                {
                    "type": "bind",
                    "target": target,
                    "from": origin,
                    "source": source,
                    "checksum": str(checksum),
                    "readonly": m.readonly,
                }
            )
    return runtime, keys, secret_env


def _cache_dir(b: StageBuilder, m: RunMount, stack: contextlib.ExitStack) -> Path:
    import fcntl

    s = b.s
    base = s.cache_mounts_dir or (s.store.root / "cachemounts")
    name = hashlib.sha256(m.id.encode()).hexdigest()[:32]
    directory = base / name
    lock_path = base / f"{name}.lock"
    base.mkdir(parents=True, exist_ok=True)
    if m.sharing in ("locked", "private"):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        stack.callback(os.close, fd)
        if m.sharing == "locked":
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return Path(
                    stack.enter_context(
                        tempfile.TemporaryDirectory(dir=base, prefix=f"{name}-private-")
                    )
                )
    if not directory.is_dir():
        directory.mkdir(mode=m.mode if m.mode is not None else 0o755)
        os.chown(directory, m.uid or 0, m.gid or 0)
        if m.mode is not None:
            os.chmod(directory, m.mode)
        if m.from_:
            root, _, _, _ = _source_root(b, m.from_, stack)
            _copy_tree(_resolve_inside(root, m.source or "/"), directory)
    return directory


def _resolve_inside(root: Path, path: str, depth: int = 0) -> Path:
    """The host path of `path` inside `root`, every symlink resolved inside the root
    (never out of it), the last component included."""
    from etage.oci.securejoin import Root, clean_parts

    parts = clean_parts(path)
    if not parts:
        return root
    with Root(root) as handle:
        try:
            found = handle.open_dir(parts)
        except NotADirectoryError:
            found = None
        if found is not None:
            os.close(found[0])
            return root.joinpath(*found[1])
        parent = handle.open_dir(parts[:-1])
        if parent is None:
            raise EtageError(f"{path}: not found")
        os.close(parent[0])
    candidate = root.joinpath(*parent[1], parts[-1])
    if candidate.is_symlink():
        if depth > 40:
            raise EtageError(f"{path}: too many levels of symbolic links")
        target = os.readlink(candidate)
        joined = target if target.startswith("/") else posixpath.join("/", *parent[1], target)
        return _resolve_inside(root, joined, depth + 1)
    if not candidate.exists():
        raise EtageError(f"{path}: not found")
    return candidate


def _filtered_copy(
    root: Path, source: str, ignore: Any, is_dir: bool, stack: contextlib.ExitStack
) -> Path:
    """`source` of the context copied without what .dockerignore excludes."""
    from etage.runtime.copy import CopyRequest, copy_into

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-bind-")))
    request = CopyRequest((source,), "/src/" if is_dir else "/", chown=None)
    result = copy_into(request, root, tmp, ignore=ignore)
    if is_dir:
        return tmp / "src"
    if not result.paths:
        raise EtageError(f"bind mount source {source!r} is excluded by .dockerignore")
    return tmp / result.paths[-1].lstrip("/")


def _copy_tree(src: Path, dest: Path) -> None:
    import shutil

    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest, follow_symlinks=False)


def _source_root(
    b: StageBuilder, name: str, stack: contextlib.ExitStack
) -> tuple[Path, str, bool, Any]:
    """(root, origin label, ownership matters, ignore) for a mount or copy source."""
    s = b.s
    if not name:
        return s.context_dir, "context", False, s.ignore
    index = _stage_index(b, name)
    if index is not None:
        result = s.stage_result(index)
        # Not the stage's key: what is read is named by the content checksum, so a COPY
        # --from hits when the copied files are unchanged, whatever else the stage did.
        return _view(b, result.snapshot, stack), "stage", True, None
    context = find_context(s.options.build_contexts, name)
    if context is not None and context.kind == "local":
        return Path(context.value), f"context:{context.value}", False, None
    base = s.bases.resolve(name)
    origin = f"image:{base.manifest.digest}" if base.manifest else "scratch"
    return _view(b, base.top, stack), origin, True, None


def _stage_index(b: StageBuilder, name: str) -> int | None:
    stages = b.s.dockerfile.stages
    if name.isascii() and name.isdigit():
        index = int(name)
        return index if 0 <= index < len(stages) else None
    for stage in reversed(stages):
        if stage.name is not None and stage.name == name.lower():
            return stage.index
    return None


def _view(b: StageBuilder, snapshot: Any, stack: contextlib.ExitStack) -> Path:
    if snapshot is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-scratch-")))
    path = Path(stack.enter_context(b.s.snapshotter.view(snapshot)))
    views = b.s.view_snapshots
    views[str(path)] = snapshot.id
    stack.callback(views.pop, str(path), None)
    return path


def _checksum(
    b: StageBuilder,
    root: Path,
    sources: tuple[str, ...],
    *,
    include_ownership: bool,
    ignore: Any = None,
    excludes: tuple[str, ...] = (),
    parents: bool = False,
) -> tuple[str, ChecksumResult | None]:
    """The content checksum of `sources` in `root`; the walk's result, or None when it
    was known already: a snapshot never changes, so what its files sum to is remembered
    (an unchanged stage's files are not hashed again by the COPY --from of each build)."""
    from etage.runtime.checksum import source_checksum

    s = b.s
    snapshot = s.view_snapshots.get(str(root)) if ignore is None else None
    spec = ""
    if snapshot is not None:
        spec = json.dumps([sources, excludes, parents, include_ownership])
        known = s.cache.source_sum(snapshot, spec)
        if known is not None:
            return known, None
    summed = source_checksum(
        root, sources, excludes=excludes, ignore=ignore, parents=parents,
        include_ownership=include_ownership, cache=s.stat_cache,
    )  # fmt: skip
    if snapshot is not None:
        s.cache.remember_source_sum(snapshot, spec, str(summed.digest))
    return str(summed.digest), summed


# ---- COPY and ADD ----------------------------------------------------------------------------


def _copy(b: StageBuilder, state: StageState, instruction: ins.Copy | ins.Add, n: int) -> None:
    from etage.runtime.copy import CopyRequest, copy_into

    s = b.s
    words = list(b.evaluator.apply(instruction, state.env).words)
    sources, dest = tuple(words[:-1]), words[-1]
    env = state.env.env

    def expand(value: str | None) -> str | None:
        return b.lexer.process_word(value, env).result if value else value

    chown, chmod = expand(instruction.chown), expand(instruction.chmod)
    from_name = instruction.from_ if isinstance(instruction, ins.Copy) else None
    is_add = isinstance(instruction, ins.Add)
    history = _copy_history(instruction, sources, dest, chown, chmod)
    with contextlib.ExitStack() as stack:
        inline_root: Path | None = None
        if instruction.inline:
            inline_root = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-inline-"))
            )
            names = []
            for src in instruction.inline:
                data = src.data
                if src.expand:
                    from etage.dockerfile.shell import ShellLexer

                    data = ShellLexer("\\", skip_process_quotes=True).process_word(data, env).result
                (inline_root / src.name).write_text(data)
                (inline_root / src.name).chmod(0o644)
                names.append(src.name)
        root, origin, include_owner, ignore = _source_root(b, from_name or "", stack)
        url_sources = (
            [x for x in sources if x.startswith(("http://", "https://"))] if is_add else []
        )
        local_sources = tuple(x for x in sources if x not in url_sources)
        downloaded: dict[str, Path] = {}
        url_digests: list[str | None] = []
        if url_sources:
            s.read_context(None)  # a remote file may change: never replay such a build
            url_checksum = getattr(instruction, "checksum", None)
            for url in url_sources:
                # As BuildKit's http source: the key is the content, so fetch it (unless
                # --checksum names it already: then it is fetched only on a miss).
                if url_checksum:
                    url_digests.append(None)
                    continue
                path, digest = _prefetch(url, stack)
                downloaded[url] = path
                url_digests.append(digest)
        checksum = None
        if local_sources:
            checksum, summed = _checksum(
                b, root, local_sources, excludes=instruction.excludes, ignore=ignore,
                parents=getattr(instruction, "parents", False), include_ownership=include_owner,
            )  # fmt: skip
            if summed is not None:
                if origin.startswith("context"):
                    s.read_context(summed.paths)
                if not s.cache.knows_checksum(checksum):
                    s.cache.remember_checksum(checksum, summed.manifest())
        key_inputs: dict[str, Any] = {
            "sources": list(sources),
            "from": origin,
            "checksum": str(checksum) if checksum else None,
            "dest": dest,
            "workdir": state.workdir,
            "chown": chown,
            "chmod": chmod,
            "excludes": list(instruction.excludes),
            "parents": getattr(instruction, "parents", False),
            "link": instruction.link,
            "add": is_add,
            "inline": [
                [x.name, hashlib.sha256(x.data.encode()).hexdigest(), x.expand]
                for x in instruction.inline
            ],
            "urls": url_sources,
            "url_contents": url_digests,
            "url_checksum": getattr(instruction, "checksum", None),
            "unpack": getattr(instruction, "unpack", None),
            "user": state.user if chown else "",
            "platform": str(s.platform),
        }
        request = CopyRequest(
            sources=local_sources, dest=dest, workdir=state.workdir,
            chown=chown, chmod=chmod, excludes=instruction.excludes,
            parents=getattr(instruction, "parents", False),
            is_add=is_add, unpack=getattr(instruction, "unpack", None),
            checksum=getattr(instruction, "checksum", None), link=instruction.link,
            from_context=from_name is None,
        )  # fmt: skip
        if request.links_layer and local_sources and not url_sources and not instruction.inline:
            _linked_copy(b, state, instruction, n, request, root, ignore, key_inputs, stack)
            b._history(state, history, layer=True)
            return
        key = make_key("add" if is_add else "copy", state.key, key_inputs)

        def action(target_root: Path) -> None:
            if local_sources:
                copy_into(request, root, target_root, ignore=ignore)
            if url_sources:
                copy_into(
                    CopyRequest(
                        sources=tuple(url_sources), dest=dest, workdir=state.workdir, chown=chown,
                        chmod=chmod, is_add=True, checksum=getattr(instruction, "checksum", None),
                    ),
                    root, target_root, ignore=None, downloaded=downloaded,
                )  # fmt: skip
            if inline_root is not None:
                copy_into(
                    CopyRequest(
                        sources=tuple(x.name for x in instruction.inline), dest=dest,
                        workdir=state.workdir, chown=chown, chmod=chmod, from_context=True,
                    ),
                    inline_root, target_root, ignore=None,
                )  # fmt: skip

        _step(b, state, instruction, n, _display(instruction), key, action)
    b._history(state, history, layer=True)


def _copy_history(
    instruction: ins.Copy | ins.Add,
    sources: tuple[str, ...],
    dest: str,
    chown: str | None,
    chmod: str | None,
) -> str:
    """BuildKit's history line for COPY/ADD (dispatchCopy): the flags that change the
    files (not --from), the sources, heredocs as <<NAME, dest."""
    parts = ["ADD" if isinstance(instruction, ins.Add) else "COPY"]
    if getattr(instruction, "parents", False):
        parts.append("--parents")
    if chown:
        parts.append(f"--chown={chown}")
    if chmod:
        parts.append(f"--chmod={chmod}")
    parts += sources
    parts += [f"<<{x.name}" for x in instruction.inline]
    parts.append(dest)
    return " ".join(parts) + " # buildkit"


def _linked_copy(  # noqa: PLR0917
    b: StageBuilder,
    state: StageState,
    instruction: ins.Copy | ins.Add,
    n: int,
    request: CopyRequest,
    root: Path,
    ignore: Any,
    key_inputs: dict[str, Any],
    stack: contextlib.ExitStack,
) -> None:
    """COPY --link as BuildKit does it: the files are copied into an empty layer whose
    key does not depend on the stage (so it survives a change of base image: the same
    blob, never re-copied nor re-tarred), then stacked on the stage's filesystem."""
    from etage.runtime.copy import copy_into, resolve_chown

    s = b.s
    inputs = dict(key_inputs)
    if request.chown:
        # Names are looked up in the stage's /etc/passwd: the ids are what the layer holds.
        user_root = _view(b, state.snapshot, stack)
        inputs["chown"] = list(resolve_chown(request.chown, user_root))
        request = replace(request, chown="{}:{}".format(*inputs["chown"]))
    inputs["user"] = ""
    layer_key = make_key("copy-link", None, inputs)
    key = make_key("link", state.key, {"layer": layer_key.digest})
    alone: list[Snapshot] = []

    def layer() -> Snapshot:
        found = s.cache.lookup(layer_key) if not b.no_cache else None
        snapshot = s.snapshots.get(found) if found else None
        if snapshot is None:
            with s.snapshotter.prepare(None) as tree:
                copy_into(request, root, Path(tree.path), ignore=ignore)
                snapshot = tree.commit()
            s.cache.record(layer_key, snapshot.id)
        return snapshot

    def produce() -> Snapshot:
        made = layer()
        alone.append(made)
        return s.snapshots.rebase(made, state.snapshot)

    _step(b, state, instruction, n, _display(instruction), key, lambda _: None, produce)
    if not alone:  # the stacked step was cached: find its layer (absent if pruned)
        found = s.cache.lookup(layer_key)
        snapshot = s.snapshots.get(found) if found else None
        if snapshot is not None:
            alone.append(snapshot)
    if alone:
        state.layers[-1] = replace(state.layers[-1], alone=alone[0])


def _prefetch(url: str, stack: contextlib.ExitStack) -> tuple[Path, str]:
    """Download `url` for an ADD; (the file, digest of its content and mtime)."""
    from etage.runtime.copy_fetch import download

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="etage-url-")))
    path = download(url, tmp)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    # The mtime comes from Last-Modified and lands in the layer: part of the content.
    return path, f"sha256:{h.hexdigest()}@{path.stat().st_mtime_ns}"


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
