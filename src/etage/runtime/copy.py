"""COPY and ADD with BuildKit's semantics (`dispatchCopy`, the file op's `docopy`, fsutil).

`copy_into(request, source_root, dest_root)` copies the request's sources from a build
context (with its .dockerignore) or another stage's root filesystem into the root
filesystem being built. The rules, each checked against BuildKit (see
tests/runtime/test_copy.py for the cases run through Docker 20.10's BuildKit):

Destination
  * relative to WORKDIR; cleaned; a trailing "/" (or "/.") makes it a directory, which
    is created first. Missing parents are created 0755 (an octal --chmod's permission
    bits in current BuildKit; BuildKit 0.8 used 0755), owned by the --chown user, else
    root;
  * every existing symlink on the destination path is followed, inside the root (a
    dangling one creates its target);
  * a file source goes to `dest/name` when dest is an existing directory, else becomes
    dest (replacing a file, failing on a directory);
  * several sources or a wildcard need no trailing "/": the Docker reference asks for
    one, but BuildKit never checks (each source is copied in turn to the same dest, the
    last file wins); "When using COPY with more than one source file, the destination
    must be a directory and end with a /" is the classic builder's error, not BuildKit's.

Sources
  * cleaned inside the root ("../x" is "/x"); a named symlink is followed inside the root
    (a link to "/etc/passwd" means the root's /etc/passwd; symlinks below a copied
    directory are copied as links); .dockerignore'd entries do not exist;
  * a directory copies its contents (merged into an existing directory);
  * wildcards: Go's `filepath.Match` per path component, `**` is `*`; expanded in
    lexical order; a wildcard that matches nothing copies nothing and is no error (not
    even creating dest); a missing non-wildcard source is `"/x" not found: not found`;
  * `--exclude` patterns (.dockerignore syntax) apply below each matched source;
  * `--parents` keeps each source's path relative to the context root, or to a `/./`
    in it (`COPY --parents a/./b/c /d/` gives /d/b/c); then `**` works and nothing is
    followed; a non-wildcard source must exist.

Metadata: modes and times (atime, mtime) kept; owner 0:0 for build context sources
(BuildKit's client resets it), the source's for stages and images, the --chown ids if
given; --chmod (octal or symbolic) applies to every copied file and directory; xattrs
copied; hard links within one source kept; fifos and devices recreated.

ADD
  * local tar archives (plain, gzip, bzip2, xz, zstd; detected by content) are extracted
    into dest as a directory unless `--unpack=false` (see `copy_unpack`);
  * http(s) URLs are downloaded (see `copy_fetch`), copied like a file (mode 0600, mtime
    from Last-Modified, --chown/--chmod apply) and extracted only with `--unpack=true`.
  * Git sources are not supported yet (an error says so).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from etage.dockerfile.ignore import DockerIgnore
from etage.oci.securejoin import clean_parts
from etage.runtime.copy_chmod import ChmodError, ChmodSpec, parse_chmod
from etage.runtime.copy_dest import Counts, DestTree, TreeWriter
from etage.runtime.copy_fetch import download, is_git_source, is_url
from etage.runtime.copy_source import (
    CopyError,
    Match,
    SourceTree,
    clean_source,
    compile_patterns,
    missing_required,
    parents_source,
)
from etage.runtime.copy_unpack import extract_archive, open_archive
from etage.runtime.users import read_group, read_passwd

if TYPE_CHECKING:
    import httpx

__all__ = ["CopyError", "CopyRequest", "CopyResult", "copy_into", "resolve_chown"]

_MAX_ID = (1 << 32) - 2


@dataclass(frozen=True)
class CopyRequest:
    """One COPY or ADD, its words and flags already expanded.

    `link` (COPY --link) asks the solver to copy into an empty layer (`dest_root` is then
    an empty directory) merged on top of the stage, as BuildKit does when the flag is set
    and --chmod is not (`links_layer`). What changes then: parents of dest are always
    new directories (0755 or the --chown owner) instead of whatever the stage has;
    symlinks in the stage's dest path are not followed; an existing dest directory is
    not seen (a file source without a trailing "/" becomes a file named dest). --chown
    names are resolved in `user_root` (the stage's rootfs): current BuildKit rejects
    a named --chown with --link ("invalid user index: -1"), numeric ids work in both.
    """

    sources: tuple[str, ...]
    dest: str
    workdir: str = "/"
    chown: str | None = None
    chmod: str | None = None
    excludes: tuple[str, ...] = ()
    parents: bool = False
    is_add: bool = False
    unpack: bool | None = None
    checksum: str | None = None
    link: bool = False
    from_context: bool = True

    @property
    def links_layer(self) -> bool:
        """Does BuildKit copy into a separate layer (--link without --chmod)?"""
        return self.link and not self.chmod


@dataclass(frozen=True)
class CopyResult:
    """What a copy did: counts (for progress) and every path it created or replaced."""

    files: int  # regular files written (hard links not included)
    bytes: int  # bytes of file content written
    dirs: int  # directories created (destination parents included)
    symlinks: int
    hardlinks: int
    specials: int  # fifos, devices, and sockets (copied as empty files)
    paths: tuple[str, ...]  # absolute in the destination root, in creation order
    matched: tuple[str, ...]  # the sources after wildcard expansion


def copy_into(
    request: CopyRequest,
    source_root: Path,
    dest_root: Path,
    *,
    ignore: DockerIgnore | None = None,
    user_root: Path | None = None,
    download_dir: Path | None = None,
    http_client: httpx.Client | None = None,
    downloaded: Mapping[str, Path] | None = None,
) -> CopyResult:
    """Copy `request.sources` from `source_root` into `dest_root` (see the module doc).

    `ignore` is the build context's .dockerignore (for context sources). `user_root` is
    where --chown names are looked up (default: `dest_root`). Downloads go to a
    temporary directory in `download_dir` (default: the system's); a URL found in
    `downloaded` (url -> the file, alone in its directory) was fetched already.
    """
    chmod = _validate(request)
    dest = normalize_dest(request.dest, request.workdir)
    owner = resolve_chown(request.chown, user_root or dest_root) if request.chown else None
    counts = Counts()
    matched: list[str] = []
    with contextlib.ExitStack() as stack:
        dtree = stack.enter_context(DestTree(dest_root))
        job = _Copy(request, dtree, dest, owner=owner, chmod=chmod, counts=counts)
        local: SourceTree | None = None
        for source in request.sources:
            if is_url(source):
                with contextlib.ExitStack() as fetched:
                    path = (downloaded or {}).get(source) or download(
                        source,
                        Path(fetched.enter_context(_download_dir(download_dir))),
                        checksum=request.checksum,
                        client=http_client,
                    )
                    with SourceTree(path.parent) as tree:
                        match = tree.find("/" + path.name)
                        matched.append(source)
                        job.copy_one(
                            tree,
                            match,
                            unpack=bool(request.unpack),
                            contents=False,
                            reset_owner=True,
                        )
                continue
            if local is None:
                local = stack.enter_context(SourceTree(source_root, ignore))
            matched.extend(job.copy_local(local, source))
    return CopyResult(
        counts.files,
        counts.bytes,
        counts.dirs,
        counts.symlinks,
        counts.hardlinks,
        counts.specials,
        tuple(counts.paths),
        tuple(matched),
    )


def _download_dir(parent: Path | None) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="etage-add-", dir=parent)


def _validate(request: CopyRequest) -> ChmodSpec | None:
    keyword = "ADD" if request.is_add else "COPY"
    for source in request.sources:
        if is_git_source(source):
            if not request.is_add:
                raise CopyError("source can't be a git ref for COPY")
            raise CopyError(
                f"ADD of a Git repository ({source}) is not supported yet",
                hint="clone it in a RUN step, or ADD an archive URL of the revision",
            )
        if is_url(source) and not request.is_add:
            raise CopyError("source can't be a URL for COPY", hint=f"use ADD to download {source}")
    if request.checksum:
        if not request.is_add:
            raise CopyError("checksum can't be specified for COPY")
        if len(request.sources) != 1:
            raise CopyError("checksum can't be specified for multiple sources")
        if not is_url(request.sources[0]):
            raise CopyError("checksum requires HTTP(S) or Git sources")
    if not request.sources:
        raise CopyError(f"{keyword} needs at least one source and a destination")
    if not request.chmod:
        return None
    try:
        return parse_chmod(request.chmod)
    except ChmodError as exc:
        raise CopyError(
            str(exc),
            hint="use an octal mode like 755 or a symbolic one like u=rwX,go=rX",
        ) from exc


def normalize_dest(dest: str, workdir: str) -> str:
    """BuildKit's `pathRelativeToWorkingDir` then `cleanPath`: absolute, cleaned, with a
    trailing "/" (or "/.") kept when there was one."""
    path = dest
    if not path.startswith("/"):
        if path in (".", ""):
            path = "./"
        path = (workdir.rstrip("/") or "") + "/" + path
    clean = "/" + "/".join(clean_parts(path))
    if dest.endswith("/."):
        return clean + ("/." if clean != "/" else ".")
    if (dest.endswith("/") or path.endswith("/")) and clean != "/":
        return clean + "/"
    return clean


def resolve_chown(spec: str, root: Path) -> tuple[int, int]:
    """--chown ids as BuildKit's file op resolves them (`readUser`), in `root`.

    "user" alone gives the user's primary group if it is a name, gid = uid if numeric;
    "root" is 0; an unknown user or group name is silently 0 (user) or keeps the user's
    gid (group); an empty part is 0.
    """
    user_part, sep, group_part = spec.partition(":")
    uid = gid = 0
    number = _id(user_part)
    if number is not None:
        uid = gid = number
    elif user_part:
        for entry in read_passwd(root) or ():
            if entry.name == user_part:
                uid, gid = entry.uid, entry.gid
                break
    if sep:
        number = _id(group_part)
        if number is not None:
            gid = number
        elif not group_part:
            gid = 0
        else:
            for group in read_group(root) or ():
                if group.name == group_part:
                    gid = group.gid
                    break
    return uid, gid


def _id(text: str) -> int | None:
    """BuildKit's `parseUID`: "root", or a base-10 int32 (a sign is allowed)."""
    if text == "root":
        return 0
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text, 10)
    if not -(1 << 31) <= value < (1 << 31):
        return None
    if value < 0 or value > _MAX_ID:
        raise CopyError(f"invalid --chown id {text}", hint="user and group ids are >= 0")
    return value


class _Copy:
    """The state of one COPY/ADD: destination, ownership, and the source loop."""

    def __init__(
        self,
        request: CopyRequest,
        dest_tree: DestTree,
        dest: str,
        *,
        owner: tuple[int, int] | None,
        chmod: ChmodSpec | None,
        counts: Counts,
    ) -> None:
        self.request = request
        self.dest_tree = dest_tree
        self.dest = dest
        self.owner = owner
        self.counts = counts
        self.chmod = chmod
        self.parent_mode = chmod.parent_mode if chmod else 0o755
        self.exclude = compile_patterns(request.excludes, "--exclude")
        self.dest_is_dir = dest.endswith(("/", "/.")) or dest == "/"

    def copy_local(self, tree: SourceTree, source: str) -> list[str]:
        request = self.request
        include = None
        required: tuple[str, ...] = ()
        if request.parents:
            spec = parents_source(source)
            source, include, required = spec.base, spec.include, spec.required
        unpack = request.is_add if request.unpack is None else request.unpack
        seen: set[str] = set()

        def copied(path: str) -> None:
            for want in required:
                if want not in seen and path.startswith(want):
                    seen.add(want)

        matches = tree.expand(clean_source(source))
        for match in matches:
            self.copy_one(
                tree,
                match,
                unpack=unpack and not request.parents,
                contents=True,
                reset_owner=request.from_context,
                include=include,
                on_copied=copied if required else None,
            )
        for want in required:
            if want not in seen:
                raise missing_required(want)
        return [m.display for m in matches]

    def copy_one(
        self,
        tree: SourceTree,
        match: Match,
        *,
        unpack: bool,
        contents: bool,
        reset_owner: bool,
        include: DockerIgnore | None = None,
        on_copied: Callable[[str], None] | None = None,
    ) -> None:
        """One matched source: fsutil's `Copy` (or an archive extraction)."""
        if unpack and stat.S_ISREG(match.st.st_mode) and self._unpack(tree, match):
            return
        dtree = self.dest_tree
        ensure = clean_parts(self.dest) if self.dest_is_dir else clean_parts(self.dest)[:-1]
        dtree.mkdir_all(dtree.resolve("/".join(ensure)), self.parent_mode, self.owner, self.counts)
        target = dtree.resolve(self.dest)
        existing = dtree.lstat(target)
        dest_is_dir = existing is not None and stat.S_ISDIR(existing.st_mode)
        if (not contents and match.is_dir and existing is not None) or (
            not match.is_dir and dest_is_dir
        ):
            target = [*target, _base(match.display)]
        holder = target if contents and match.is_dir and existing is None else target[:-1]
        dtree.mkdir_all(holder, self.parent_mode, self.owner, self.counts)
        writer = TreeWriter(
            dtree,
            self.counts,
            owner=self.owner,
            reset_owner=reset_owner,
            chmod=self.chmod,
        )
        writer.copy_match(
            tree,
            match,
            target,
            include=include,
            exclude=self.exclude,
            on_copied=on_copied,
        )

    def _unpack(self, tree: SourceTree, match: Match) -> bool:
        parent = tree.open_dir(list(match.parts[:-1]))
        try:
            fd = os.open(match.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
        archive = open_archive(fd)
        if archive is None:
            return False
        with archive:
            dtree = self.dest_tree
            target = dtree.resolve(self.dest)
            dtree.mkdir_all(target, 0o755, self.owner, self.counts)
            dfd = dtree.open_dir(target)
            try:
                extract_archive(
                    archive,
                    f"/proc/self/fd/{dfd}",
                    owner=self.owner,
                    counts=self.counts,
                    shown="/" + "/".join(target),
                )
            finally:
                os.close(dfd)
        return True


def _base(path: str) -> str:
    """Go's `filepath.Base`."""
    trimmed = path.rstrip("/")
    if not trimmed:
        return "/" if path else "."
    return trimmed.rsplit("/", 1)[-1]
