"""`etage merge`: per-environment Dockerfiles (Dockerfile.dev, Dockerfile.prod...) into one
multi-stage Dockerfile, with a shared stage and one named target per input.

The promise: `etage build --target <name>` of the merged file, with that target's
`build_args` (usually none), gives the filesystem and config its input gave. The rules:

Names
  A target is named after its file: Dockerfile.dev, dev.Dockerfile and docker/dev/Dockerfile
  all give `dev` (lower-cased, cleaned into a valid stage name; `target-<position>` when
  nothing is left). A name that is taken, `scratch`, `context` or an image that a FROM or
  --from uses gets a suffix (`dev-2`). Each input's last stage becomes its target. Its other
  stages keep their names unless another input, a target or the shared stage has the name:
  then they take the target as prefix (`dev-builder`); unnamed ones become
  `<target>-stage-<n>`. Every stage reference (FROM, COPY --from, RUN --mount from=) is
  rewritten to the stage's new name, numeric `--from=N` included: numbers shift when
  stages are added.

Sharing
  Leading stages that are the same in every input are written once. In the next stage,
  the instructions that all inputs start with after the same FROM become the shared stage,
  and each input goes on with `FROM base AS <its stage>`. The shared stage is `base` (then
  `shared`, `common` when taken), or the name every input gives that stage when it is not
  their last (`builder`). "The same" compares parsed instructions: keyword case, spacing,
  continuations and comments do not matter; values are compared as written, references by
  the stage they resolve to. The shared run stops before an ONBUILD (the stage built on it
  would run the trigger) and before a CMD when a target then sets an ENTRYPOINT (which
  keeps only a CMD of its own stage). ARG and ENV values set in the shared stage reach the
  targets, as in BuildKit: a stage built on another starts from its environment.

Values
  - Base images that differ only in their tag (`FROM node:18`, `FROM node:20`) still give a
    shared stage when an instruction can be shared: it uses `FROM node:${NODE_TAG}` with a
    global ARG whose default is the most common tag, and the other targets get a
    `build_args` entry. This is the only case that needs build args.
  - ENV instructions of the targets that differ only in values become, in each target,
    `ARG NAME=<its value>` then `ENV NAME=${NAME}`: the line reads the same everywhere and
    `--build-arg` can override it. Values with quotes, blanks, `$` or escapes, names that
    BuildKit treats apart (proxies, platform, SOURCE_DATE_EPOCH) and names declared by an
    ARG are left as they are, and so are LABELs: their ARG would reach later RUNs.
  - A global ARG (before the first FROM) is declared once when every input that declares
    it gives it the same value and no other input uses the name. Otherwise it is not
    declared: its value is written into the FROM lines and `ARG NAME` lines that used it.

Text
  A header names the merged files; parser directives are kept and must agree. Kept
  instructions are copied as written, with the comments above them (comments above shared
  instructions are gathered from every input); FROM lines are written anew.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field

from etage.dockerfile import instructions as ins
from etage.dockerfile.flags import split_mount_fields
from etage.dockerfile.lexer import parse_text
from etage.dockerfile.parse import Dockerfile, parse_dockerfile
from etage.dockerfile.shell import ShellLexer
from etage.dockerfile.syntax import Node
from etage.errors import EtageError, ExpansionError, SourceLocation, UsageError
from etage.plan.graph import PlanOptions, build_plan, is_predefined_arg

__all__ = ["MergeResult", "MergedTarget", "merge_dockerfiles"]


@dataclass(frozen=True, slots=True)
class MergedTarget:
    name: str  # the stage name to pass to --target
    source: str  # the input file it reproduces
    build_args: tuple[tuple[str, str], ...]  # --build-arg pairs needed to reproduce it


@dataclass(frozen=True, slots=True)
class MergeResult:
    text: str  # the merged Dockerfile
    targets: tuple[MergedTarget, ...]  # in input order


_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]*\Z")
_FACTORABLE = re.compile(r"[^\s$\"'`\\]*\Z")  # a value that reads the same as an ARG default
_RESERVED = frozenset({"scratch", "context"})
_PLATFORM_ARG = re.compile(r"(BUILD|TARGET)(PLATFORM|OS|OSVERSION|ARCH|VARIANT|STAGE)\Z")
_HEAD_NAMES = ("base", "shared", "common")


@dataclass(slots=True)
class _Line:
    """One instruction of an input, as it will be written and compared."""

    instr: ins.Instruction
    node: Node  # the node to compare (parsed again when the line was rewritten)
    text: str | None = None  # None: as written in the input


@dataclass(slots=True)
class _Stage:
    index: int
    base_stage: int | None  # the earlier stage the FROM names
    image: tuple[str, ...]  # how the FROM compares when it names an image
    base: str  # as it will be written (global ARGs inlined where needed)
    platform: str | None
    lines: list[_Line]


@dataclass(slots=True)
class _Input:
    pos: int
    path: str
    df: Dockerfile
    lexer: ShellLexer
    env: dict[str, str]  # global ARG values
    declared: list[str]  # global ARG names, in order
    mentions: set[str]  # names used by FROM lines, global defaults and `ARG NAME` lines
    by_name: dict[str, int]  # stage name -> index (the last one wins, as BuildKit's plan)
    stages: list[_Stage] = field(default_factory=list)
    trivia: dict[int, list[str]] = field(default_factory=dict)  # line -> comments above
    target: str = ""
    names: dict[int, str] = field(default_factory=dict)  # stage index -> merged name


def merge_dockerfiles(inputs: list[tuple[str, str]]) -> MergeResult:
    """One multi-stage Dockerfile from (path, text) pairs. Raises EtageError."""
    if len(inputs) < 2:
        raise UsageError(
            "merge needs at least two Dockerfiles",
            hint="name one file per environment: etage merge Dockerfile.dev Dockerfile.prod "
            "-o Dockerfile",
        )
    files = [_load(pos, path, text) for pos, (path, text) in enumerate(inputs)]
    directives = _directives(files)
    inconsistent = _inconsistent_globals(files)
    for f in files:
        _build_stages(f, inconsistent)
    return _Merger(files, directives, inconsistent).merge()


# ---- reading the inputs ---------------------------------------------------------------


def _load(pos: int, path: str, text: str) -> _Input:
    df = parse_dockerfile(text, path)
    # BuildKit checks every stage of a file (cycles, FROM lines, --from): an input that does
    # not build would break the other targets of the merged file too.
    build_plan(df, PlanOptions())
    lexer = ShellLexer(df.escape_token)
    env: dict[str, str] = {}
    declared: list[str] = []
    mentions: set[str] = set()
    for arg in df.global_args:
        for d in arg.args:
            if d.key not in declared:
                declared.append(d.key)
            if d.default is not None:
                mentions.update(_VAR.findall(d.default))
                env[d.key] = _expand(lexer, d.default, env, df, arg.line)[0]
    for stage in df.stages:
        mentions.update(_VAR.findall(stage.from_.base + (stage.from_.platform or "")))
        for i in stage.instructions:
            if isinstance(i, ins.Arg):
                mentions.update(d.key for d in i.args if d.default is None)
    by_name = {s.name: s.index for s in df.stages if s.name is not None}
    f = _Input(pos, path, df, lexer, env, declared, mentions, by_name)
    nodes = df.parsed.nodes
    directive_lines = {d.line for d in df.parsed.directives}
    previous_end = 0
    for node in nodes:
        above = df.parsed.lines[previous_end : node.start_line - 1]
        f.trivia[node.start_line] = [
            t for n, t in enumerate(above, previous_end + 1) if n not in directive_lines
        ]
        previous_end = node.end_line
    f.trivia[0] = list(df.parsed.lines[previous_end:])  # after the last instruction
    return f


def _expand(
    lexer: ShellLexer, word: str, env: dict[str, str], df: Dockerfile, line: int
) -> tuple[str, frozenset[str]]:
    try:
        result = lexer.process_word(word, env)
    except ExpansionError as exc:
        raise exc.with_location(SourceLocation(df.filename, line), df.source_line(line)) from None
    return result.result, result.unmatched


def _directives(files: list[_Input]) -> list[str]:
    """The parser directives of the merged file: each must be the same in every input."""
    out = []
    for name in ("syntax", "escape", "check"):
        seen: dict[str, _Input] = {}
        for f in files:
            value = f.df.escape_token if name == "escape" else f.df.parsed.directive(name)
            if value is None:
                continue
            if seen and value not in seen:
                first = next(iter(seen))
                line = next((d.line for d in f.df.parsed.directives if d.name == name), 1)
                raise EtageError(
                    f"the {name} parser directive differs: {value!r} here, {first!r} in "
                    f"{seen[first].path}",
                    location=SourceLocation(f.path, line),
                    source_line=f.df.source_line(line),
                    hint=f"make the `# {name}=` lines of the files agree before merging them",
                )
            seen.setdefault(value, f)
        value = next(iter(seen), None)
        if value is not None and (name != "escape" or value != "\\"):
            out.append(f"# {name}={value}")
    return out


def _inconsistent_globals(files: list[_Input]) -> set[str]:
    """Global ARGs that cannot be declared once: their values differ between inputs, or an
    input that does not declare the name uses it (the declaration would reach it)."""
    bad: set[str] = set()
    for name in {n for f in files for n in f.declared}:
        values = {f.env.get(name) for f in files if name in f.declared}
        if len(values) > 1 or any(name in f.mentions for f in files if name not in f.declared):
            bad.add(name)
    changed = True
    while changed:  # a default that uses an inlined name is inlined too
        changed = False
        for f in files:
            for arg in f.df.global_args:
                for d in arg.args:
                    uses = set(_VAR.findall(d.default or ""))
                    if d.key not in bad and uses & bad:
                        bad.add(d.key)
                        changed = True
    return bad


def _build_stages(f: _Input, inconsistent: set[str]) -> None:
    seen: dict[str, int] = {}
    for stage in f.df.stages:
        fr = stage.from_
        base, platform = fr.base, fr.platform
        used = set(_VAR.findall(base + (platform or "")))
        if used & inconsistent:
            base = _inline(f, base, fr.line)
            platform = _inline(f, platform, fr.line) if platform is not None else None
        base_value, unmatched = _expand(f.lexer, base, f.env, f.df, fr.line)
        plat_value, plat_unmatched = (
            _expand(f.lexer, platform, f.env, f.df, fr.line) if platform else ("", frozenset())
        )
        image: tuple[str, ...] = ("image", base_value, plat_value)
        if unmatched or plat_unmatched:  # automatic ARGs ($TARGETARCH...): compare the text
            image = ("text", base, platform or "")
        lines = [_rewrite_arg(f, i, inconsistent) for i in stage.instructions]
        f.stages.append(_Stage(stage.index, seen.get(base_value), image, base, platform, lines))
        if stage.name is not None:
            seen[stage.name] = stage.index


def _inline(f: _Input, word: str, line: int) -> str:
    value, unmatched = _expand(f.lexer, word, f.env, f.df, line)
    if unmatched:
        raise EtageError(
            f"cannot merge this FROM line: it uses a global ARG whose default differs "
            f"between the files, and {', '.join(sorted(unmatched))} which etage cannot "
            "resolve here",
            location=SourceLocation(f.path, line),
            source_line=f.df.source_line(line),
            hint="give the global ARG the same default in every file",
        )
    return _quote(value, f, line)


def _quote(value: str, f: _Input, line: int) -> str:
    """`value` as a word that expands to itself."""
    if _PLAIN.match(value):
        word = value
    elif "'" not in value:
        word = f"'{value}'"
    else:
        esc = f.df.escape_token
        word = '"' + "".join(esc + c if c in (esc, '"', "$") else c for c in value) + '"'
    if "\n" in value or f.lexer.process_word(word, {}).result != value:
        raise EtageError(
            f"cannot write the value {value!r} in the merged file",
            location=SourceLocation(f.path, line),
            source_line=f.df.source_line(line),
            hint="give the global ARG the same default in every file",
        )
    return word


def _rewrite_arg(f: _Input, instr: ins.Instruction, inconsistent: set[str]) -> _Line:
    """`ARG NAME` took the global default: write that value when the global goes away."""
    if not isinstance(instr, ins.Arg) or not any(
        d.default is None and d.key in inconsistent and d.key in f.env for d in instr.args
    ):
        return _Line(instr, instr.node)
    words = [
        f"{d.key}={_quote(f.env[d.key], f, instr.line)}"
        if d.default is None and d.key in inconsistent and d.key in f.env
        else word
        for d, word in zip(instr.args, instr.node.args, strict=True)
    ]
    text = "ARG " + " ".join(words)
    return _Line(instr, _nodes(text, f)[0], text)


def _nodes(text: str, f: _Input) -> tuple[Node, ...]:
    """Parse text written for input `f` (with its escape character)."""
    prefix = "" if f.df.escape_token == "\\" else f"# escape={f.df.escape_token}\n"
    return parse_text(prefix + text, f.path).nodes


# ---- comparing ------------------------------------------------------------------------


def _resolve(f: _Input, value: str, numeric: bool) -> int | None:
    if numeric and value.isdigit():
        return int(value) if int(value) < len(f.stages) else None
    return f.by_name.get(value.lower())


def _ref_id(f: _Input, value: str, numeric: bool, shared: int) -> tuple[object, ...]:
    index = _resolve(f, value, numeric)
    if index is None:
        return ("image", value)
    return ("stage", index) if index < shared else ("own", f.pos, index)


def _key(f: _Input, node: Node, shared: int) -> tuple[object, ...]:
    """What makes two instructions the same; references count by the stage they name."""
    flags: list[object] = []
    for word in node.flags:
        if word.startswith("--from=") and node.upper == "COPY":
            flags.append(_ref_id(f, word[7:].strip("\"'"), True, shared))
        elif word.startswith("--mount=") and node.upper == "RUN":
            fields: list[object] = []
            for item in split_mount_fields(word[8:]):
                k, eq, v = item.partition("=")
                is_from = eq and k.lower() == "from"
                fields.append(_ref_id(f, v, False, shared) if is_from else item)
            flags.append(tuple(fields))
        else:
            flags.append(word)
    sub = _key(f, node.sub, -1) if node.sub is not None else None
    return (node.upper, tuple(flags), node.args, node.json, node.heredocs, sub)


def _from_key(f: _Input, stage: _Stage, shared: int) -> tuple[object, ...]:
    b = stage.base_stage
    if b is None:
        return stage.image
    ref = ("stage", b) if b < shared else ("own", f.pos, b)
    return (*ref, stage.image[2] if stage.image[0] == "image" else stage.platform)


def _split_tag(ref: str) -> tuple[str, str] | None:
    if "@" in ref:
        return None
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


# ---- names ----------------------------------------------------------------------------


def _target_name(path: str) -> str:
    """Dockerfile.dev, dev.Dockerfile, docker/dev/Dockerfile -> "dev" ("" when none fits)."""
    path = path.replace("\\", "/").rstrip("/")
    name = posixpath.basename(path).lower()
    for kind in ("dockerfile", "containerfile"):
        if name.startswith(kind + "."):
            name = name[len(kind) + 1 :]
        elif name.endswith("." + kind):
            name = name[: -len(kind) - 1]
    if name in ("dockerfile", "containerfile"):
        name = posixpath.basename(posixpath.dirname(path)).lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", name)
    name = re.sub(r"^[^a-z]+", "", name).rstrip("-._")
    return name if ins.VALID_STAGE_NAME.match(name) else ""


def _unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate, 2
    while name in taken:
        name, n = f"{candidate}-{n}", n + 1
    taken.add(name)
    return name


# ---- the merge ------------------------------------------------------------------------


class _Merger:
    def __init__(self, files: list[_Input], directives: list[str], inconsistent: set[str]):
        self.files = files
        self.directives = directives
        self.inconsistent = inconsistent
        self.shared = 0  # leading stages written once
        self.head: str | None = None  # "same" or "tag": how the shared stage starts
        self.prefix = 0  # instructions of stage `shared` in the shared stage
        self.tag_arg: tuple[str, str, str] | None = None  # (ARG name, default, repository)
        self.names: list[str] = []  # of the leading shared stages
        self.head_name = ""
        self.factored: dict[tuple[int, int], list[str]] = {}  # (input, line) -> ENV keys

    def merge(self) -> MergeResult:
        self.find_shared()
        self.name_stages()
        self.factor_env()
        text = self.render()
        targets = [MergedTarget(f.target, f.path, self.build_args(f)) for f in self.files]
        try:
            parse_dockerfile(text, "merged Dockerfile")
        except EtageError as exc:  # pragma: no cover - a bug in the rules above
            raise EtageError(
                f"the merged Dockerfile does not parse: {exc}",
                hint="this is a bug in etage merge; please report it with the input files",
            ) from exc
        return MergeResult(text, tuple(targets))

    # -- what is shared

    def find_shared(self) -> None:
        files = self.files
        last = min(len(f.stages) for f in files) - 1
        while self.shared < last and self.same_stage(self.shared):
            self.shared += 1
        k = self.shared
        keys = [[_key(f, line.node, k) for line in f.stages[k].lines] for f in files]
        p = 0
        while all(len(ks) > p and ks[p] == keys[0][p] for ks in keys):
            p += 1
        first = files[0].stages[k].lines
        p = next((i for i in range(p) if isinstance(first[i].instr, ins.Onbuild)), p)
        while p > 0 and self.cmd_then_entrypoint(p):
            p -= 1
        self.prefix = p
        froms = {_from_key(f, f.stages[k], k) for f in files}
        if len(froms) == 1:
            is_image = files[0].stages[k].base_stage is None
            if p > 0 or (k == 0 and is_image):
                self.head = "same"
        elif p > 0 and self.tag_factoring():
            self.head = "tag"

    def same_stage(self, j: int) -> bool:
        stages = [f.stages[j] for f in self.files]
        if len({_from_key(f, s, j) for f, s in zip(self.files, stages, strict=True)}) > 1:
            return False
        keys = [
            [_key(f, ln.node, j) for ln in s.lines] for f, s in zip(self.files, stages, strict=True)
        ]
        return all(k == keys[0] for k in keys)

    def cmd_then_entrypoint(self, p: int) -> bool:
        k = self.shared
        head = self.files[0].stages[k].lines[:p]
        if not any(isinstance(ln.instr, ins.Cmd) for ln in head):
            return False
        return any(
            isinstance(ln.instr, ins.Entrypoint) for f in self.files for ln in f.stages[k].lines[p:]
        )

    def tag_factoring(self) -> bool:
        stages = [f.stages[self.shared] for f in self.files]
        if any(s.base_stage is not None or s.image[0] != "image" for s in stages):
            return False
        if len({s.image[2] for s in stages}) > 1:
            return False
        split = [_split_tag(s.image[1]) for s in stages]
        repos = {s[0] for s in split if s is not None}
        if None in split or len(repos) != 1:
            return False
        tags = [s[1] for s in split if s is not None]
        if not all(_PLAIN.match(t) for t in tags):
            return False
        repo = repos.pop()
        default = Counter(tags).most_common(1)[0][0]  # ties: the first file's
        stem = re.sub(r"[^A-Za-z0-9]+", "_", repo.rsplit("/", 1)[-1]).upper().strip("_")
        candidate = f"{stem}_TAG"
        if not _IDENT.match(candidate) or _special_arg(candidate):
            candidate = "BASE_TAG"
        texts = [f.df.parsed.lines for f in self.files]
        name, n = candidate, 2
        while any(name in line for lines in texts for line in lines):
            name, n = f"{candidate}_{n}", n + 1
        self.tag_arg = (name, default, repo)
        return True

    def tag_of(self, f: _Input) -> str:
        split = _split_tag(f.stages[self.shared].image[1])
        assert split is not None
        return split[1]

    def build_args(self, f: _Input) -> tuple[tuple[str, str], ...]:
        if self.tag_arg is None or self.tag_of(f) == self.tag_arg[1]:
            return ()
        return ((self.tag_arg[0], self.tag_of(f)),)

    # -- names

    def name_stages(self) -> None:
        taken = set(_RESERVED)
        for f in self.files:
            for s in f.stages:
                if s.base_stage is None and s.image[0] == "image":
                    taken.add(s.image[1])
                for line in s.lines:
                    for value, numeric in _refs(line.instr):
                        if _resolve(f, value, numeric) is None:
                            taken.add(value.lower())
        for f in self.files:
            f.target = _unique(_target_name(f.path) or f"target-{f.pos + 1}", taken)
            f.names[len(f.stages) - 1] = f.target
        for j in range(self.shared):
            names = [f.df.stages[j].name for f in self.files]
            self.names.append(_unique(next((n for n in names if n), f"stage-{j}"), taken))
        if self.head is not None:
            # the start of stages every file names alike (`builder`): that name says more
            k = self.shared
            common = {f.df.stages[k].name for f in self.files}
            inner = all(k < len(f.stages) - 1 for f in self.files) and len(common) == 1
            candidates = [*(n for n in common if n and inner), *_HEAD_NAMES]
            free = [n for n in candidates if n not in taken]
            self.head_name = _unique(free[0] if free else "base", taken)
        own = [(f, j) for f in self.files for j in range(self.shared, len(f.stages) - 1)]
        count = Counter(f.df.stages[j].name for f, j in own)
        for f, j in own:  # names that collide with nothing keep their name
            name = f.df.stages[j].name
            if name is not None and count[name] == 1 and name not in taken:
                f.names[j] = _unique(name, taken)
        for f, j in own:
            if j not in f.names:
                name = f.df.stages[j].name
                f.names[j] = _unique(f"{f.target}-{name or f'stage-{j}'}", taken)

    def name_of(self, f: _Input, index: int) -> str:
        return self.names[index] if index < self.shared else f.names[index]

    # -- ENV values

    def factor_env(self) -> None:
        """ENV lines of the targets that differ only in values: ARG NAME=value per target."""
        found: dict[tuple[str, ...], list[tuple[_Input, int, ins.Env]]] = {}
        for f in self.files:
            t = len(f.stages) - 1
            start = self.prefix if self.head and t == self.shared else 0
            mine: dict[tuple[str, ...], list[tuple[_Input, int, ins.Env]]] = {}
            for n, line in enumerate(f.stages[t].lines[start:], start):
                if isinstance(line.instr, ins.Env) and not any(p.legacy for p in line.instr.pairs):
                    sig = tuple(p.key for p in line.instr.pairs)
                    mine.setdefault(sig, []).append((f, n, line.instr))
            for sig, uses in mine.items():
                if len(uses) == 1:  # a key set used twice cannot be told apart
                    found.setdefault(sig, []).append(uses[0])
        for sig, uses in found.items():
            if len(uses) < 2:
                continue
            keys = [
                key
                for i, key in enumerate(sig)
                if len({env.pairs[i].value for _, _, env in uses}) > 1
                and _IDENT.match(key)
                and not _special_arg(key)
                and all(_FACTORABLE.match(env.pairs[i].value) for _, _, env in uses)
                and not any(self.declares_arg(f, key) for f, _, _ in uses)
                and key not in {n for f in self.files for n in f.declared}
            ]
            if keys:
                for f, n, _ in uses:
                    self.factored[(f.pos, n)] = keys

    @staticmethod
    def declares_arg(f: _Input, key: str) -> bool:
        return any(
            isinstance(line.instr, ins.Arg) and any(d.key == key for d in line.instr.args)
            for s in f.stages
            for line in s.lines
        )

    # -- the text

    def render(self) -> str:
        files = self.files
        paths = ", ".join(f.path for f in files)
        out = [*self.directives, f"# Generated by `etage merge` from {paths}."]
        out.append("# One target per file: etage build --target <name> (see each stage below).")
        out.append("")
        out += self.render_globals()
        for j in range(self.shared):
            f = files[0]
            s = f.stages[j]
            out.append("")
            out += self.gather_trivia([g.df.stages[j].from_.line for g in files], top=True)
            out.append(self.from_line(f, s, self.names[j]))
            out += self.render_lines(f, s.lines, others=[g.stages[j].lines for g in files])
        if self.head is not None:
            f, k = files[0], self.shared
            s = f.stages[k]
            out += ["", f"# Shared by {', '.join(g.target for g in files)}."]
            if self.tag_arg is not None:
                name, _, repo = self.tag_arg
                plat = f"--platform={s.platform} " if s.platform else ""
                out.append(f"FROM {plat}{repo}:${{{name}}} AS {self.head_name}")
            else:
                out.append(self.from_line(f, s, self.head_name))
            lines = s.lines[: self.prefix]
            others = [g.stages[k].lines[: self.prefix] for g in files]
            out += self.render_lines(f, lines, others=others)
        for f in files:
            out += self.render_input(f)
        text = "\n".join(out).strip("\n") + "\n"
        return re.sub(r"\n{3,}", "\n\n", text)

    def render_globals(self) -> list[str]:
        out: list[str] = []
        done: set[str] = set()  # declared by an earlier file (with the same value)
        for f in self.files:
            for arg in f.df.global_args:
                new = [
                    (d, w)
                    for d, w in zip(arg.args, arg.node.args, strict=True)
                    if d.key not in self.inconsistent and d.key not in done
                ]
                if not new:
                    continue
                out += _strip_blank(_comments(f.trivia[arg.line]))
                if len(new) == len(arg.args):
                    out.append(self.source_text(f, arg))
                else:
                    out.append("ARG " + " ".join(w for _, w in new))
            done.update(f.declared)
        if self.tag_arg is not None:
            name, default, _ = self.tag_arg
            tags = ", ".join(f"{f.target}={self.tag_of(f)}" for f in self.files)
            out += [f"# The base image's tag ({tags}).", f"ARG {name}={default}"]
        return out

    def render_input(self, f: _Input) -> list[str]:
        k = self.shared
        args = "".join(f" --build-arg {n}={v}" for n, v in self.build_args(f))
        out = ["", f"# {f.target}: from {f.path} (etage build --target {f.target}{args})."]
        for s in f.stages[k:]:
            if s is not f.stages[k]:
                out.append("")
            out += _strip_blank(f.trivia[f.df.stages[s.index].from_.line])
            start = 0
            if s.index == k and self.head is not None:
                out.append(f"FROM {self.head_name} AS {f.names[s.index]}")
                start = self.prefix
            else:
                out.append(self.from_line(f, s, f.names[s.index]))
            is_target = s is f.stages[-1]
            out += self.render_lines(f, s.lines[start:], offset=start if is_target else -1)
        out += _strip_blank(f.trivia[0])
        return out

    def from_line(self, f: _Input, s: _Stage, name: str) -> str:
        base = self.name_of(f, s.base_stage) if s.base_stage is not None else s.base
        plat = f"--platform={s.platform} " if s.platform else ""
        return f"FROM {plat}{base} AS {name}"

    def gather_trivia(self, lines: list[int], *, top: bool = False) -> list[str]:
        """The comments above one instruction in each input, each comment once."""
        first = self.files[0].trivia[lines[0]]
        out = _strip_blank(first) if top else list(first)
        for f, line in zip(self.files[1:], lines[1:], strict=True):
            out += [c for c in _comments(f.trivia[line]) if c not in out]
        return out

    def render_lines(
        self,
        f: _Input,
        lines: list[_Line],
        *,
        others: list[list[_Line]] | None = None,
        offset: int = -1,
    ) -> list[str]:
        """Instructions with the comments above them; `offset`: where `lines` start in the
        input's target stage (-1: they are not in it)."""
        out: list[str] = []
        for n, line in enumerate(lines):
            if others is not None:
                trivia = self.gather_trivia([o[n].instr.line for o in others])
            else:
                trivia = list(f.trivia[line.instr.line])
            if n == 0:
                trivia = _strip_blank(trivia)
            keys = self.factored.get((f.pos, offset + n)) if offset >= 0 else None
            if keys is not None and isinstance(line.instr, ins.Env):
                out += trivia
                values = {p.key: p.value for p in line.instr.pairs}
                out += [f"ARG {key}={values[key]}" for key in keys]
                pairs = [
                    f"{p.key}=${{{p.key}}}" if p.key in keys else f"{p.key}={p.value}"
                    for p in line.instr.pairs
                ]
                out.append("ENV " + " ".join(pairs))
                continue
            out += trivia
            out.append(self.with_refs(f, line))
        return out

    def source_text(self, f: _Input, instr: ins.Instruction) -> str:
        lines = list(f.df.parsed.lines[instr.line - 1 : instr.end_line])
        if instr.end_line == len(f.df.parsed.lines) and not instr.node.heredocs:
            _end_continuation(lines, f)
        return "\n".join(lines)

    def with_refs(self, f: _Input, line: _Line) -> str:
        """The instruction's text with its stage references renamed."""
        instr = line.instr
        text = line.text if line.text is not None else self.source_text(f, instr)
        if isinstance(instr, ins.Onbuild):
            self.check_trigger(f, instr)
        renames: list[tuple[str, str, bool]] = []
        for value, numeric in _refs(instr):
            index = _resolve(f, value, numeric)
            if index is not None and self.name_of(f, index) != value:
                renames.append((value, self.name_of(f, index), numeric))
        if not renames:
            return text
        physical = text.split("\n")
        head = len(physical) - sum(h.content.count("\n") + 1 for h in instr.node.heredocs)
        for old, new, is_copy in renames:
            if is_copy:
                pattern = r"(--from=)([\"']?)" + re.escape(old) + r"\2(?=\s|$)"
                repl, count = rf"\g<1>{new}", 1
            else:
                pattern = r"((?<=[=,])(?i:from)=)" + re.escape(old) + r"(?=[,\s\"']|$)"
                repl, count = rf"\g<1>{new}", 0
            for n in range(head):
                if n and physical[n].lstrip().startswith("#"):
                    continue  # a comment inside the continuation lines
                physical[n], found = re.subn(pattern, repl, physical[n], count=count)
                if found and is_copy:
                    break
        return "\n".join(physical)

    def check_trigger(self, f: _Input, instr: ins.Onbuild) -> None:
        trigger = instr.trigger
        if trigger is None:
            return
        for value, numeric in _refs(trigger):
            index = _resolve(f, value, numeric)
            if index is not None and self.name_of(f, index) != value.lower():
                raise EtageError(
                    f"ONBUILD uses stage {value!r}, which is renamed "
                    f"{self.name_of(f, index)!r} in the merged file",
                    location=SourceLocation(f.path, instr.line),
                    source_line=f.df.source_line(instr.line),
                    hint="give that stage a name no other file uses before merging",
                )


def _refs(instr: ins.Instruction) -> list[tuple[str, bool]]:
    """(value as written, numeric allowed) of each stage reference of an instruction."""
    if isinstance(instr, ins.Copy) and instr.from_ is not None:
        return [(instr.from_, True)]
    if isinstance(instr, ins.Run):
        return [(m, False) for m in instr.mount_froms if m is not None]
    return []


def _end_continuation(lines: list[str], f: _Input) -> None:
    """A file may end inside a continuation; followed by more lines it would swallow them."""
    last = max(
        (n for n, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")),
        default=0,
    )
    if not lines[last].rstrip(" \t").endswith(f.df.escape_token):
        return
    if (
        len(_nodes("\n".join(lines) + "\nFROM probe", f)) == 1
    ):  # the probe line was joined to the instruction
        lines[last] = lines[last].rstrip(" \t")[:-1]


def _special_arg(name: str) -> bool:
    """Build args BuildKit treats apart (proxies, SOURCE_DATE_EPOCH, platform...)."""
    return is_predefined_arg(name) or _PLATFORM_ARG.match(name) is not None


def _comments(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def _strip_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return list(lines[start:end])
