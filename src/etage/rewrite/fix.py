"""`etage fix`: the Dockerfile a careful human would write, with only the needed characters changed.

The rewrite, in the order BuildKit would report the problems:

* names unnamed stages of a multi-stage file by their role (see `_role`), and rewrites
  `COPY --from=N` to the stage's name. Only COPY's `--from` takes an index: BuildKit
  looks `FROM x` and `RUN --mount=from=x` up by name only, so `0` there is an image;
* lower-cases stage names (StageNameCasing) and the `--from`/`from=` references to
  them (those are case-insensitive). `FROM Name` is left as written: BuildKit matches
  FROM case-sensitively, so it never meant the stage;
* gives every instruction keyword the majority casing of the file, upper case on a
  tie (ConsistentInstructionCasing, counted as `etage check` counts), and `AS` the
  casing of its FROM (FromAsCasing). ONBUILD triggers keep their text: it is stored
  in the image as written;
* writes a one-line shell-form CMD/ENTRYPOINT in exec form when the shell adds
  nothing (see `_exec_words`) and the stage runs shell forms with a POSIX `-c` shell.
  CMD is left alone when an ENTRYPOINT in exec form from this file takes it as
  arguments. An ENTRYPOINT in shell form ignores CMD, in exec form it appends it: it
  is converted only when no CMD can reach it (none in its stage or the ONBUILD
  triggers it inherits, none in a stage built FROM it, no ONBUILD CMD it passes on).

Everything else keeps its bytes: each instruction's logical line is mapped back to
the physical characters it came from, and only those are replaced. The result is
parsed again and compared instruction by instruction with what was intended; any
other difference is a bug, and raises instead of writing a file that means
something else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from etage.dockerfile import instructions as ins
from etage.dockerfile.directives import parse_check_directive
from etage.dockerfile.gocompat import GO_SPACES, trim_left_space, trim_space
from etage.dockerfile.line_parsers import WHITESPACE, extract_builder_flags
from etage.dockerfile.parse import Dockerfile, Stage, parse_dockerfile
from etage.dockerfile.shell import ShellLexer
from etage.dockerfile.syntax import Node
from etage.errors import DockerfileError, ExpansionError

__all__ = ["Change", "FixResult", "fix_dockerfile"]


@dataclass(frozen=True, slots=True)
class Change:
    line: int  # 1-based line in the ORIGINAL file (where the instruction starts)
    description: str


@dataclass(frozen=True, slots=True)
class FixResult:
    source: str  # the original text
    text: str  # the fixed text (== source when nothing to fix)
    changes: tuple[Change, ...]


def fix_dockerfile(source: str, filename: str = "Dockerfile") -> FixResult:
    """Fix `source`. Raises the parser's DockerfileError when it does not parse."""
    df = parse_dockerfile(source, filename)
    rewrite = _Rewrite(df, source)
    rewrite.plan()
    if not rewrite.edits:
        return FixResult(source, source, ())
    text = rewrite.apply()
    _verify(text, filename, rewrite.expected)
    changes = sorted(rewrite.changes, key=lambda c: c.line)
    return FixResult(source, text, tuple(changes))


# ---- where each character of an instruction comes from --------------------------------


@dataclass(frozen=True, slots=True)
class _Edit:
    line: int  # 0-based index into the physical lines (byte-order mark removed)
    start: int  # columns [start, end) of that line are replaced
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Located:
    """One instruction's logical line, each character pinned to its place in the file."""

    text: str  # == node.original: continuations joined, comment lines dropped
    places: tuple[tuple[int, int], ...]  # (line index, column) of each character
    continued: bool  # the instruction goes on over several physical lines

    def replace(self, start: int, end: int, text: str) -> list[_Edit] | None:
        """Edits that turn text[start:end] into `text`, or None when the span cannot be
        replaced in place (it is cut by a line break and the length changes)."""
        places = self.places[start:end]
        if not places:
            return None
        line, first = places[0]
        if all(p == (line, first + k) for k, p in enumerate(places)):
            return [_Edit(line, first, first + len(places), text)]
        if len(text) != len(places):
            return None
        return [_Edit(ln, col, col + 1, ch) for (ln, col), ch in zip(places, text, strict=True)]

    def insert_after(self, pos: int, text: str) -> _Edit:
        line, col = self.places[pos - 1]
        return _Edit(line, col + 1, col + 1, text)


def _cut_continuation(line: str, escape: str) -> tuple[str, bool]:
    """The line without its continuation character, and whether the instruction goes on.

    The escape character ends a line when only spaces and tabs follow it, unless it is
    itself escaped (`\\\\` at the end of a line is not a continuation).
    """
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape) and (len(stripped) == 1 or stripped[-2] != escape):
        return stripped[:-1], True
    return line, False


def _locate(lines: list[str], node: Node, escape: str) -> _Located | None:
    """Read the instruction's lines again as the lexer did, keeping the columns.

    None when the text read does not give back the parser's logical line: the
    instruction is then left untouched rather than edited at a guessed place.
    """
    index = node.start_line - 1
    first = lines[index].rstrip("\r\n")
    lead = len(first) - len(trim_left_space(first))
    text, more = _cut_continuation(first[lead:], escape)
    pieces = [(index, lead, text)]
    continued = more
    while more and index + 1 < len(lines):
        index += 1
        raw = lines[index]
        line = raw.rstrip("\r\n")
        if trim_left_space(raw).startswith("#") or trim_left_space(line) == "":
            continue  # comment and empty lines inside a continuation are skipped
        text, more = _cut_continuation(line, escape)
        pieces.append((index, 0, text))
    logical = "".join(piece for _, _, piece in pieces)
    if logical != node.original:
        return None
    places = tuple((ln, col + k) for ln, col, piece in pieces for k in range(len(piece)))
    return _Located(logical, places, continued)


@dataclass(frozen=True, slots=True)
class _Parts:
    """Where the keyword, the flags and the arguments are in a logical line."""

    keyword: tuple[int, int]
    flags: tuple[tuple[int, int, str], ...]  # (start, end, value) of each flag word
    rest: tuple[int, int]  # the arguments after the flags, trimmed


def _parts(located: _Located, node: Node, escape: str) -> _Parts | None:
    text = located.text
    lead = len(text) - len(trim_left_space(text))
    body = trim_space(text)
    gap = WHITESPACE.search(body)
    keyword_end = lead + (gap.start() if gap else len(body))
    if text[lead:keyword_end] != node.keyword:
        return None
    if gap is None:
        return _Parts((lead, keyword_end), (), (keyword_end, keyword_end))
    after_keyword = lead + gap.end()
    remainder = body[gap.end() :]
    rest_raw, _flags = extract_builder_flags(remainder, escape)
    if not remainder.endswith(rest_raw):
        return None
    flags_end = after_keyword + len(remainder) - len(rest_raw)
    rest_start = flags_end + len(rest_raw) - len(trim_left_space(rest_raw))
    rest_end = rest_start + len(trim_space(rest_raw))
    flags = _flag_words(text[after_keyword:flags_end], after_keyword, escape)
    if flags is None or tuple(value for _, _, value in flags) != node.flags:
        flags = ()  # not read the way the parser read them: no flag is edited
    return _Parts((lead, keyword_end), flags, (rest_start, rest_end))


def _flag_words(region: str, offset: int, escape: str) -> tuple[tuple[int, int, str], ...] | None:
    """The `--flag=value` words of `region` with their spans and values (quotes and
    escapes removed, as the parser's flag reader does). ASCII only: the parser reads
    flags byte by byte, and some bytes of non-ASCII characters count as spaces there."""
    if not region.isascii():
        return None
    words: list[tuple[int, int, str]] = []
    pos, n = 0, len(region)
    while pos < n:
        if region[pos] in GO_SPACES:
            pos += 1
            continue
        start, value, quote = pos, [], ""
        while pos < n and (quote or region[pos] not in GO_SPACES):
            ch = region[pos]
            if ch == escape:
                pos += 1
                if pos < n:
                    value.append(region[pos])
            elif quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            else:
                value.append(ch)
            pos += 1
        word = "".join(value)
        if word != "--":
            words.append((offset + start, offset + pos, word))
    return tuple(words)


def _split_lines(source: str) -> tuple[str, list[str]]:
    """(byte-order mark, physical lines as the parser numbers them)."""
    bom = "\ufeff" if source.startswith("\ufeff") else ""
    return bom, source[len(bom) :].split("\n")


def _apply(bom: str, lines: list[str], edits: Iterable[_Edit]) -> str:
    out = list(lines)
    by_line: dict[int, list[_Edit]] = {}
    for edit in edits:
        by_line.setdefault(edit.line, []).append(edit)
    for index, line_edits in by_line.items():
        line = out[index]
        limit = len(line) + 1
        for edit in sorted(line_edits, key=lambda e: (e.start, e.end), reverse=True):
            if edit.end > limit:
                raise RuntimeError(f"etage fix: overlapping edits on line {index + 1}")
            line = line[: edit.start] + edit.text + line[edit.end :]
            limit = edit.start
        out[index] = line
    return bom + "\n".join(out)


# ---- what each stage does ------------------------------------------------------------

BUILD, TEST, LINT, DEPS, PROD_DEPS, DEV = "build", "test", "lint", "deps", "prod-deps", "dev"

# Tools named by what they do, whatever their arguments.
_TOOLS = {
    **dict.fromkeys(
        ("tsc", "webpack", "esbuild", "rollup", "babel", "swc", "gcc", "g++", "cc", "c++",
         "clang", "clang++", "javac", "rustc", "kotlinc", "scalac", "msbuild", "cmake", "ninja",
         "hugo"),
        BUILD,
    ),
    **dict.fromkeys(
        ("pytest", "py.test", "tox", "nox", "unittest", "jest", "mocha", "vitest", "karma", "ava",
         "cypress", "playwright", "rspec", "phpunit", "pest", "ctest"),
        TEST,
    ),
    **dict.fromkeys(
        ("eslint", "prettier", "stylelint", "golangci-lint", "staticcheck", "shellcheck",
         "hadolint", "rubocop", "ruff", "flake8", "pylint", "mypy", "pyright", "black", "isort",
         "phpstan", "phpcs"),
        LINT,
    ),
    "nodemon": DEV,
}  # fmt: skip

# Tools whose first known argument (a subcommand, a goal) says what they do; "*" when
# none is known.
_ONLY_BUILD = {"build": BUILD}
_TOOL_ARGS: dict[str, dict[str, str]] = {
    "go": {"build": BUILD, "install": BUILD, "test": TEST, "vet": LINT, "download": DEPS},
    "cargo": {
        "build": BUILD, "install": BUILD, "cook": BUILD, "test": TEST, "nextest": TEST,
        "clippy": LINT, "fmt": LINT, "fetch": DEPS,
    },
    "dotnet": {"build": BUILD, "publish": BUILD, "pack": BUILD, "test": TEST, "restore": DEPS},
    "mvn": {
        "package": BUILD, "install": BUILD, "verify": BUILD, "deploy": BUILD, "test": TEST,
        "dependency:go-offline": DEPS, "dependency:resolve": DEPS,
    },
    "gradle": {
        "build": BUILD, "assemble": BUILD, "bootJar": BUILD, "jar": BUILD, "shadowJar": BUILD,
        "installDist": BUILD, "test": TEST, "check": TEST, "dependencies": DEPS,
    },
    "make": {"test": TEST, "check": TEST, "lint": LINT, "*": BUILD},
    "meson": {"compile": BUILD, "test": TEST},
    "bazel": {"build": BUILD, "test": TEST},
    "swift": {"build": BUILD, "test": TEST},
    "zig": _ONLY_BUILD,
    "mix": {"compile": BUILD, "release": BUILD, "test": TEST},
    "rake": {"assets:precompile": BUILD, "test": TEST, "spec": TEST},
    "deno": {"compile": BUILD, "test": TEST, "lint": LINT},
    "pip": {"wheel": BUILD},
    "setup.py": {"build": BUILD, "bdist_wheel": BUILD, "sdist": BUILD, "build_ext": BUILD},
    **dict.fromkeys(
        ("poetry", "uv", "hatch", "pdm", "vite", "next", "ng", "nuxt", "nuxi", "parcel", "gatsby",
         "astro", "jekyll", "react-scripts", "vue-cli-service", "svelte-kit", "remix"),
        _ONLY_BUILD,
    ),
}  # fmt: skip

# `npx tsc`, `poetry run pytest`, `bundle exec rspec`: the tool is a later word.
_LAUNCHERS = frozenset({"npx", "bunx", "pnpx"})
_RUNNERS = {
    "poetry": "run", "uv": "run", "pipenv": "run", "pdm": "run", "hatch": "run",
    "bundle": "exec", "pnpm": "exec", "yarn": "dlx",
}  # fmt: skip
_ALIASES = {"mvnw": "mvn", "gradlew": "gradle", "pip3": "pip", "python3": "python"}

_SCRIPT_KINDS = {
    "build": BUILD, "compile": BUILD, "bundle": BUILD, "dist": BUILD, "package": BUILD,
    "test": TEST, "tests": TEST, "e2e": TEST, "coverage": TEST,
    "lint": LINT, "typecheck": LINT, "type-check": LINT, "format": LINT,
    "dev": DEV, "watch": DEV,
}  # fmt: skip

_SEPARATORS = re.compile(r"&&|\|\||[;|&\n()]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_PREFIX_WORDS = frozenset({"sudo", "env", "exec", "time", "nice", "nohup", "command", "then",
                           "do", "else", "if", "while", "until", "!"})  # fmt: skip
_DEV_FILES = re.compile(r"dev|test|lint|ci\b", re.IGNORECASE)


def _simple_commands(script: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """(VAR=value prefixes, words) of each simple command: enough to recognise tools."""
    for chunk in _SEPARATORS.split(script.replace("\\\n", " ")):
        try:
            words = shlex.split(chunk, comments=True)
        except ValueError:
            words = chunk.split()
        env: dict[str, str] = {}
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _PREFIX_WORDS):
            key, sep, value = words.pop(0).partition("=")
            if sep:
                env[key] = value
        if words:
            yield env, words


def _tool(words: list[str]) -> tuple[str, list[str]]:
    """The program that does the work and its arguments (`python -m pytest` -> pytest)."""
    program, args = posixpath.basename(words[0]), words[1:]
    program = _ALIASES.get(program, program)
    if program == "python" and args[:1] == ["-m"] and len(args) > 1:
        return _tool(args[1:])
    if program == "python" and args and args[0].endswith("setup.py"):
        return "setup.py", args[1:]
    if program in _LAUNCHERS:
        while args and args[0].startswith("-"):
            args = args[1:]  # the launcher's own options: `npx --yes tsc`
        return _tool(args) if args else (program, args)
    if program in _RUNNERS and len(args) > 1 and args[0] == _RUNNERS[program]:
        return _tool(args[1:])
    if program == "uv" and args[:1] == ["pip"]:
        return "pip", args[1:]
    return program, args


def _classify(words: list[str], env: dict[str, str]) -> str | None:
    """BUILD, TEST, LINT, DEPS, PROD_DEPS or DEV for one command; None when unknown."""
    program, args = _tool(words)
    installed = _install_kind(program, args, env)
    if installed is not None:
        return installed
    if program in ("npm", "yarn", "pnpm", "bun") and args:
        script = args[1] if args[0] in ("run", "run-script") and len(args) > 1 else args[0]
        return _SCRIPT_KINDS.get(re.split(r"[:_-]", script)[0])
    if program == "tsc" and "--noEmit" in args:
        return LINT
    if program in _TOOLS:
        return _TOOLS[program]
    table = _TOOL_ARGS.get(program)
    if table is None:
        return None
    found = next((table[a] for a in args if a in table and a != "*"), None)
    return found or table.get("*")


def _install_kind(program: str, args: list[str], env: dict[str, str]) -> str | None:
    """DEPS or PROD_DEPS for a dependency install (or a prune to production), else None."""
    sub = next((a for a in args if not a.startswith("-")), "")
    production = _production_only(program, sub, args, env)
    if production is None:
        return None
    return PROD_DEPS if production else DEPS


# Node package managers: the subcommands that install, the flags that leave dev deps out.
_NODE_INSTALLS = {
    "npm": (("ci", "install", "i"), {"--omit=dev", "--production", "--only=production"}),
    "yarn": (("", "install"), {"--production", "--production=true", "--prod"}),
    "pnpm": (("install", "i", "fetch"), {"--prod", "-P", "--production"}),
    "bun": (("install", "i"), {"--production", "-p"}),
}  # fmt: skip


def _production_only(program: str, sub: str, args: list[str], env: dict[str, str]) -> bool | None:
    """Whether an install leaves development dependencies out; None: not an install."""
    flags = set(args)
    if program in _NODE_INSTALLS:
        subcommands, production_flags = _NODE_INSTALLS[program]
        production = (
            bool(flags & production_flags)
            or env.get("NODE_ENV") == "production"
            or _option(args, "--omit") == "dev"
            or _option(args, "--only") in ("prod", "production")
        )
        if program == "npm" and sub == "prune":
            return True if production else None  # `npm prune --omit=dev` keeps production deps
        return production if sub in subcommands else None
    if program == "pip" and sub == "install":
        # requirements-dev.txt, `.[test]`: files and extras named for development
        return not any(_DEV_FILES.search(a) for a in args[1:] if not a.startswith("-"))
    if program == "poetry" and sub == "install":
        without = _option(args, "--without") or ""
        return "--no-dev" in flags or _option(args, "--only") == "main" or "dev" in without
    if program in ("pipenv", "uv", "pdm") and sub in ("install", "sync"):
        development = flags & {"--dev", "-d"}
        return bool(flags & {"--no-dev", "--prod", "-P", "--deploy"}) and not development
    if program == "composer" and sub == "install":
        return "--no-dev" in flags
    if program == "bundle" and sub == "install":
        return "development" in (_option(args, "--without") or env.get("BUNDLE_WITHOUT", ""))
    if program == "mix" and sub == "deps.get":
        return _option(args, "--only") == "prod" or env.get("MIX_ENV") == "prod"
    return None


def _option(args: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value`."""
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


# ---- the stages: what they are built on, who copies from them, what they are called ------

_INDEX = re.compile(r"[+-]?[0-9]+\Z")  # strconv.Atoi: what BuildKit takes as a stage index
_IMPLICIT_LABEL = re.compile(r"stage-[0-9]+\Z")  # how BuildKit shows an unnamed stage
_RESERVED = frozenset({"scratch", "context"})
_WINDOWS = re.compile(r"windows|nanoserver|servercore", re.IGNORECASE)
_ENV_STYLE_NAMES = frozenset({"dev", "development", "debug", "local", "staging"})


class _Graph:
    """The stages of a Dockerfile as BuildKit links them."""

    def __init__(self, df: Dockerfile) -> None:
        self.df = df
        self.stages = df.stages
        self.lexer = ShellLexer(df.escape_token)
        self.env = self._global_env()
        self.bases: list[int | None] = []
        earlier: dict[str, int] = {}
        for stage in self.stages:
            # FROM matches a stage name exactly, among the stages above it.
            self.bases.append(earlier.get(self.expand(stage.from_.base)))
            if stage.name is not None:
                earlier[stage.name] = stage.index
        # COPY --from and mount from= match case-insensitively, the last stage of a name wins.
        self.by_name = earlier
        self.copied_by: list[set[int]] = [set() for _ in self.stages]
        for stage in self.stages:
            for instruction in stage.instructions:
                for source in self._sources(instruction):
                    self.copied_by[source].add(stage.index)

    def _global_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for arg in self.df.global_args:
            for definition in arg.args:
                if definition.default is not None:
                    env[definition.key] = self.expand(definition.default, env)
        return env

    def expand(self, word: str, env: dict[str, str] | None = None) -> str:
        try:
            return self.lexer.process_word(word, self.env if env is None else env).result
        except ExpansionError:
            return word

    def copy_source(self, value: str) -> int | None:
        if _INDEX.match(value):
            index = int(value)
            return index if 0 <= index < len(self.stages) else None
        return self.by_name.get(value.lower())

    def _sources(self, instruction: ins.Instruction) -> Iterator[int]:
        found: list[int | None] = []
        if isinstance(instruction, ins.Copy) and instruction.from_ is not None:
            found.append(self.copy_source(instruction.from_))
        elif isinstance(instruction, ins.Run):
            found += [self.by_name.get(m.lower()) for m in instruction.mount_froms if m]
        yield from (i for i in found if i is not None)

    def image_names(self) -> set[str]:
        """Names a new stage must not take: a stage of that name would replace the image
        in `FROM name` or `COPY --from=name`. `node` is kept out for `FROM node:18` too:
        not a shadow, but a reader could take one for the other."""
        words: list[str] = []
        for stage in self.stages:
            words += [stage.from_.base, self.expand(stage.from_.base)]
            for instruction in stage.instructions:
                if isinstance(instruction, ins.Copy) and instruction.from_:
                    words.append(instruction.from_)
                elif isinstance(instruction, ins.Run):
                    words += [m for m in instruction.mount_froms if m]
        names: set[str] = set()
        for word in (w.lower() for w in words):
            untagged = word.split("@", 1)[0]
            if ":" in untagged.rsplit("/", 1)[-1]:
                untagged = untagged.rsplit(":", 1)[0]
            names |= {word, untagged}
        return names

    def effective(self, index: int) -> list[ins.Instruction]:
        """What runs in the stage: the ONBUILD triggers of the stage it is built on, then
        its own instructions (its own ONBUILD triggers run elsewhere)."""
        out: list[ins.Instruction] = []
        base = self.bases[index]
        if base is not None:
            for instruction in self.stages[base].instructions:
                if isinstance(instruction, ins.Onbuild) and instruction.trigger is not None:
                    out.append(instruction.trigger)
        out += [i for i in self.stages[index].instructions if not isinstance(i, ins.Onbuild)]
        return out

    def descendants(self, index: int) -> set[int]:
        found: set[int] = set()
        for stage in self.stages[index + 1 :]:
            base = self.bases[stage.index]
            if base is not None and (base == index or base in found):
                found.add(stage.index)
        return found

    def chain(self, index: int) -> list[int]:
        """The stage and the stages it is built on, nearest first."""
        out = [index]
        while (base := self.bases[out[-1]]) is not None:
            out.append(base)
        return out


def _activities(stage: Stage) -> list[str]:
    out: list[str] = []
    env: dict[str, str] = {}
    for instruction in stage.instructions:
        if isinstance(instruction, ins.Env):
            env.update((p.key, p.value.strip("\"'")) for p in instruction.pairs)
        elif isinstance(instruction, ins.Run):
            for prefix, words in _simple_commands(_script(instruction)):
                kind = _classify(words, {**env, **prefix})
                if kind is not None:
                    out.append(kind)
        elif isinstance(instruction, ins.Cmd | ins.Entrypoint):
            words = _command_words(instruction)
            dev_server = "--reload" in words or "runserver" in words
            if words and (dev_server or _classify(words, env) == DEV):
                out.append(DEV)
    return out


def _command_words(instruction: ins.Cmd | ins.Entrypoint) -> list[str]:
    if not instruction.shell_form:
        return list(instruction.command)
    text = " ".join(instruction.command)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _script(run: ins.Run) -> str:
    if run.shell_form:
        body = list(run.command)
    elif len(run.command) > 2 and posixpath.basename(run.command[0]) in _POSIX_SHELLS:
        body = list(run.command[2:3]) if run.command[1] == "-c" else []
    else:
        body = [shlex.join(run.command)]
    return "\n".join([*body, *(f.content for f in run.files)])


def _deps_role(activities: list[str]) -> str | None:
    """DEPS or PROD_DEPS when the stage only installs dependencies (the last install wins:
    `npm ci` then `npm prune --omit=dev` leaves production dependencies)."""
    if {BUILD, TEST, LINT} & set(activities):
        return None
    installs = [a for a in activities if a in (DEPS, PROD_DEPS)]
    return installs[-1] if installs else None


def _role(graph: _Graph, index: int) -> str:
    """What the stage is for, from what it runs and how the other stages use it."""
    stage = graph.stages[index]
    acts = _activities(stage)
    if index == len(graph.stages) - 1:
        commands = any(isinstance(i, ins.Cmd | ins.Entrypoint) for i in stage.instructions)
        return TEST if TEST in acts and not commands else "runtime"
    runs = any(isinstance(i, ins.Run) for i in stage.instructions)
    if graph.copied_by[index]:
        if BUILD in acts:
            return "builder"
        order = (_deps_role(acts), TEST if TEST in acts else None, LINT if LINT in acts else None)
        return next((r for r in order if r), "builder" if runs else "assets")
    for role in (TEST, LINT, DEV):
        if role in acts:
            return role
    if BUILD in acts:
        return "builder"
    return _deps_role(acts) or "stage"


def _candidates(role: str, index: int, existing: set[str]) -> tuple[str, ...]:
    if role == "runtime" and existing & _ENV_STYLE_NAMES:
        # The file names stages after environments: the one that ships is production.
        long_form = bool(existing & {"development", "staging"})
        return ("production", "prod", "runtime") if long_form else ("prod", "production")
    return {
        "runtime": ("runtime", "final"),
        "stage": (f"stage{index}",),
    }.get(role, (role,))


def _pick_name(candidates: tuple[str, ...], taken: set[str]) -> str:
    def free(name: str) -> bool:
        return (
            name not in taken
            and ins.VALID_STAGE_NAME.match(name) is not None
            and not _IMPLICIT_LABEL.match(name)
        )

    for name in candidates:
        if free(name):
            return name
    n = 2
    while not free(f"{candidates[0]}-{n}"):
        n += 1
    return f"{candidates[0]}-{n}"


_DOES = {
    "builder": "it runs a build", DEPS: "it installs dependencies",
    PROD_DEPS: "it installs production dependencies", TEST: "it runs the tests",
    LINT: "it runs the linters", DEV: "it runs a development server",
    "assets": "it holds files", "stage": "no role recognised: named after its index",
}  # fmt: skip
_DOES_FOR_OTHERS = {
    "builder": "it builds what {copies}",
    DEPS: "it installs the dependencies {copies}",
    PROD_DEPS: "it installs the production dependencies {copies}",
    "assets": "it holds files {copies}",
}


def _reason(graph: _Graph, index: int, role: str, names: dict[int, str]) -> str:
    """Why the stage got its name, for the change list."""
    if index == len(graph.stages) - 1:
        last = "the last stage"
        return f"{last}; it runs the tests" if role == TEST else f"{last}: the image that ships"
    users = sorted(graph.copied_by[index])
    if not users:
        return _DOES[role]
    quoted = " and ".join(f"'{names.get(u, u)}'" for u in users)
    copies = f"stage {quoted} copies" if len(users) == 1 else f"stages {quoted} copy"
    if role in _DOES_FOR_OTHERS:
        return _DOES_FOR_OTHERS[role].format(copies=copies)
    return f"{_DOES[role]}; {copies} from it"


# ---- shell form to exec form ---------------------------------------------------------

_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"})
# Options of a `SHELL [...]` that change nothing for one simple command.
_HARMLESS_SHELL_OPTION = re.compile(r"-(?=[euo])[eu]*o?|pipefail|errexit|nounset")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+%@=")
# Words the shell itself runs: without the shell there is no program of that name.
_SHELL_ONLY = frozenset({
    "!", "{", "}", "[[", "]]", "case", "do", "done", "elif", "else", "esac", "fi", "for",
    "function", "if", "in", "select", "then", "time", "until", "while", ".", ":", "alias", "bg",
    "bind", "break", "builtin", "caller", "cd", "command", "compgen", "complete", "continue",
    "declare", "dirs", "disown", "enable", "eval", "exec", "exit", "export", "fc", "fg", "getopts",
    "hash", "history", "jobs", "let", "local", "logout", "mapfile", "popd", "pushd", "read",
    "readarray", "readonly", "return", "set", "shift", "shopt", "source", "suspend", "times",
    "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait",
})  # fmt: skip


def _exec_words(command: str) -> list[str] | None:
    """The argv `sh -c command` would run, when the shell does nothing but split words.

    None when the command needs a shell: variables, globs, redirections, pipes, lists,
    subshells, backslashes, `~`, `#`, assignments, builtins and reserved words, or
    quotes that are not closed. Single quotes and double quotes without `$`, backquote
    or backslash inside are removed, as the shell would. A leading `exec` is dropped:
    exec form already runs the program in place of the shell.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    pos = 0
    while pos < len(command):
        ch = command[pos]
        if ch in " \t":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            pos += 1
            continue
        in_word = True
        if ch in "'\"":
            end = command.find(ch, pos + 1)
            quoted = command[pos + 1 : end]
            if end < 0 or (ch == '"' and any(c in quoted for c in "$`\\")):
                return None
            current.append(quoted)
            pos = end + 1
            continue
        if ch not in _PLAIN and (ch.isascii() or not ch.isprintable() or ch in GO_SPACES):
            return None
        current.append(ch)
        pos += 1
    if in_word:
        words.append("".join(current))
    if words[:1] == ["exec"]:
        words = words[1:]
        if words and words[0].startswith("-"):
            return None
    if not words or words[0][:1] in ("", "-") or "=" in words[0] or words[0] in _SHELL_ONLY:
        return None
    return words


def _runs_like_sh(shell: tuple[str, ...] | None) -> bool:
    """Whether shell form runs under a POSIX shell given `-c` and harmless options."""
    if shell is None:
        return True
    return (
        len(shell) >= 2
        and shell[-1] == "-c"
        and posixpath.basename(shell[0]) in _POSIX_SHELLS
        and all(_HARMLESS_SHELL_OPTION.fullmatch(option) for option in shell[1:-1])
    )


# ---- what the file asks not to change ------------------------------------------------

_SUPPRESSION = re.compile(r"(check|etage:?\s+ignore)\s*=\s*(\S.*)", re.IGNORECASE)


def _suppressed_by(comments: Iterable[str]) -> set[str]:
    """The rules that `# check=skip=A,B` or `# etage ignore=A,B` comments turn off."""
    rules: set[str] = set()
    for comment in comments:
        m = _SUPPRESSION.match(comment.strip())
        if m is None:
            continue
        if m.group(1).lower() == "check":
            try:
                skipped, _error, _experimental = parse_check_directive(m.group(2).split()[0])
            except ValueError:
                continue
            rules |= skipped
        else:
            listed = re.match(r"[\w,\s]*", m.group(2))
            rules |= {r.strip() for r in (listed.group() if listed else "").split(",")} - {""}
    return rules


class _Skips:
    """Where the file turns a check off, as `etage check` reads it: the `# check=`
    directive for the whole file, a comment above a FROM for its stage, a comment
    above an instruction for that instruction. A fix is not made where its check is off:
    the author asked for it to stay as it is."""

    def __init__(self, df: Dockerfile) -> None:
        self.everywhere: frozenset[str] = frozenset()
        value = df.parsed.directive("check")
        # A bad directive is for `etage check` to report; here it turns nothing off.
        if value is not None:
            with contextlib.suppress(ValueError):
                self.everywhere = parse_check_directive(value)[0]
        self.regions: list[tuple[int, int, set[str]]] = []
        for n, stage in enumerate(df.stages):
            end = df.stages[n + 1].from_.line - 1 if n + 1 < len(df.stages) else 1 << 30
            self.regions.append((stage.from_.line, end, _suppressed_by(stage.from_.node.comments)))
            for instruction in stage.instructions:
                skipped = _suppressed_by(instruction.node.comments)
                self.regions.append((instruction.line, instruction.end_line, skipped))

    def allow(self, rule: str, line: int) -> bool:
        if {"all", rule} & self.everywhere:
            return False
        return not any(
            lo <= line <= hi and {"all", rule} & skipped for lo, hi, skipped in self.regions
        )


# ---- the rewrite ----------------------------------------------------------------------


class _Rewrite:
    """Plans the edits of one file and what each instruction must parse back to."""

    def __init__(self, df: Dockerfile, source: str) -> None:
        self.df = df
        self.escape = df.escape_token
        self.bom, self.lines = _split_lines(source)
        self.graph = _Graph(df)
        self.edits: list[_Edit] = []
        self.changes: list[Change] = []
        self.expected: list[Node] = list(df.parsed.nodes)
        self._slot = {id(node): i for i, node in enumerate(df.parsed.nodes)}
        self.lower_keywords = _majority_lower(df)
        self.skips = _Skips(df)
        self.renamed: dict[int, str] = {}  # stage index -> its lower-case name
        self.new_names: dict[int, tuple[str, str]] = {}  # stage index -> (name, role)

    def apply(self) -> str:
        return _apply(self.bom, self.lines, self.edits)

    # -- helpers -----------------------------------------------------------------------

    def where(self, node: Node) -> tuple[_Located, _Parts] | None:
        located = _locate(self.lines, node, self.escape)
        if located is None:
            return None
        parts = _parts(located, node, self.escape)
        return None if parts is None else (located, parts)

    def edit(self, node: Node, edits: list[_Edit] | None, description: str, **want: object) -> bool:
        """Record the edits of one change and what the node must parse back to."""
        if edits is None:
            return False
        slot = self._slot[id(node)]
        self.expected[slot] = dataclasses.replace(self.expected[slot], **want)  # type: ignore[arg-type]
        self.edits += edits
        self.changes.append(Change(node.start_line, description))
        return True

    def final_keyword(self, node: Node) -> str:
        """The keyword as the fix leaves it: in the file's majority casing, unless it
        cannot be recased safely (non-ASCII) or the casing check is off there."""
        canonical = node.upper
        if not (node.keyword.isascii() and canonical.isascii()):
            return node.keyword
        if not self.skips.allow("ConsistentInstructionCasing", node.start_line):
            return node.keyword
        return canonical.lower() if self.lower_keywords else canonical

    # -- the plan --------------------------------------------------------------------

    def plan(self) -> None:
        self.name_stages()
        for node in self.df.parsed.nodes:
            self.fix_keyword(node)
        for stage in self.df.stages:
            self.fix_from(stage)
        for stage in self.df.stages:
            for instruction in stage.instructions:
                if isinstance(instruction, ins.Copy) and instruction.from_ is not None:
                    self.fix_copy_from(instruction)
                elif isinstance(instruction, ins.Run) and any(instruction.mount_froms):
                    self.fix_mount_from(instruction)
                elif isinstance(instruction, ins.Cmd | ins.Entrypoint):
                    self.fix_exec_form(stage.index, instruction)

    def name_stages(self) -> None:
        """Choose a name for each unnamed stage (multi-stage files only), and the
        lower-case name of each stage written with capitals."""
        stages = self.df.stages
        for stage in stages:
            written = stage.from_.stage_name_as_written
            allowed = self.skips.allow("StageNameCasing", stage.from_.line)
            if stage.name is not None and written != stage.name and allowed:
                self.renamed[stage.index] = stage.name
        if len(stages) < 2:
            return
        existing = {s.name for s in stages if s.name is not None}
        taken = existing | _RESERVED | self.graph.image_names()
        # A default build sets the predefined ARG TARGETSTAGE to the last stage's name
        # ("default" while it has none): where the file reads it, naming would change it.
        keep_last = any("TARGETSTAGE" in node.original for node in self.df.parsed.nodes)
        for stage in stages:
            if stage.name is not None or self.where(stage.from_.node) is None:
                continue
            if not self.skips.allow("UnnamedStage", stage.from_.line):
                continue
            if keep_last and stage.index == len(stages) - 1:
                continue
            role = _role(self.graph, stage.index)
            name = _pick_name(_candidates(role, stage.index, existing), taken)
            taken.add(name)
            self.new_names[stage.index] = (name, role)

    def final_name(self, index: int) -> str | None:
        new = self.new_names.get(index)
        return new[0] if new else self.df.stages[index].name

    def fix_from(self, stage: Stage) -> None:
        node = stage.from_.node
        found = self.where(node)
        if found is None:
            return
        located, parts = found
        keyword = self.final_keyword(node)
        if keyword not in (keyword.lower(), keyword.upper()):
            return  # BuildKit only matches AS to a FROM written all in one case
        as_word = "as" if keyword == keyword.lower() else "AS"
        words = [m.span() for m in re.finditer(r"[^\t\v\f\r ]+", located.text[slice(*parts.rest)])]
        start = parts.rest[0]
        new = self.new_names.get(stage.index)
        if new is not None:
            name, role = new
            reason = _reason(self.graph, stage.index, role, self._label_names())
            self.edit(
                node,
                [located.insert_after(parts.rest[1], f" {as_word} {name}")],
                f"named stage {stage.index} '{name}' ({reason})",
                args=(*node.args, as_word, name),
            )
            return
        if len(node.args) != 3 or len(words) != 3:
            return
        (as_start, as_end), (name_start, name_end) = words[1], words[2]
        if node.args[1] != as_word and self.skips.allow("FromAsCasing", node.start_line):
            self.edit(
                node,
                located.replace(start + as_start, start + as_end, as_word),
                f"'{node.args[1]}' -> '{as_word}' to match '{keyword}'",
                args=(node.args[0], as_word, self.expected_args(node)[2]),
            )
        if stage.index in self.renamed:
            lower = self.renamed[stage.index]
            self.edit(
                node,
                located.replace(start + name_start, start + name_end, lower),
                f"stage name '{node.args[2]}' -> '{lower}' (stage names are lower case)",
                args=(*self.expected_args(node)[:2], lower),
            )

    def expected_args(self, node: Node) -> tuple[str, ...]:
        return self.expected[self._slot[id(node)]].args

    def _label_names(self) -> dict[int, str]:
        return {s.index: n for s in self.df.stages if (n := self.final_name(s.index))}

    def fix_keyword(self, node: Node) -> None:
        wanted = self.final_keyword(node)
        if wanted == node.keyword:
            return
        found = self.where(node)
        if found is None:
            return
        located, parts = found
        casing = "lower" if self.lower_keywords else "upper"
        self.edit(
            node,
            located.replace(*parts.keyword, wanted),
            f"keyword '{node.keyword}' -> '{wanted}' (most instructions are {casing} case)",
            keyword=wanted,
        )

    def fix_copy_from(self, copy: ins.Copy) -> None:
        assert copy.from_ is not None
        source = self.graph.copy_source(copy.from_)
        if source is None:
            return
        name = self.final_name(source)
        numeric = _INDEX.match(copy.from_) is not None
        if name is None or (not numeric and source not in self.renamed):
            return
        if numeric and self.unique_owner(name) != source:
            return  # a later stage of the same name would win the lookup by name
        if numeric and not self.skips.allow("NumericStageReference", copy.line):
            return
        if not numeric and copy.from_ == name:
            return
        self.replace_flag(
            copy.node,
            # the whole word is replaced, so a quoted `--from="0"` is rewritten too
            lambda value, _raw: f"--from={name}" if value.startswith("--from=") else None,
            f"COPY --from={copy.from_} -> --from={name}"
            + (f" (stage {source} by name)" if numeric else ""),
        )

    def unique_owner(self, name: str) -> int | None:
        owners = [s.index for s in self.df.stages if self.final_name(s.index) == name]
        return owners[-1] if owners else None

    def fix_mount_from(self, run: ins.Run) -> None:
        lowered = set(self.renamed.values())

        def rewritten(value: str, raw: str) -> str | None:
            spec = value.removeprefix("--mount=")
            if spec == value or raw != value or '"' in spec:
                return None  # quoted or escaped: its fields are not what is written
            fields = spec.split(",")
            for i, item in enumerate(fields):
                key, sep, source = item.partition("=")
                if sep and key.lower() == "from" and source.lower() in lowered:
                    fields[i] = f"{key}={source.lower()}"
            new = "--mount=" + ",".join(fields)
            return new if new != value else None

        self.replace_flag(run.node, rewritten, "RUN --mount from= -> the stage's lower-case name")

    def replace_flag(self, node: Node, rewrite: Callable[[str, str], str | None], why: str) -> None:
        """Replace whole flag words: `rewrite(value, text as written)` gives the new word."""
        found = self.where(node)
        if found is None:
            return
        located, parts = found
        flags = list(self.expected[self._slot[id(node)]].flags)
        for i, (start, end, value) in enumerate(parts.flags):
            new = rewrite(value, located.text[start:end])
            if new is None:
                continue
            flags[i] = new
            self.edit(node, located.replace(start, end, new), why, flags=tuple(flags))

    def fix_exec_form(self, index: int, instruction: ins.Cmd | ins.Entrypoint) -> None:
        node = instruction.node
        if not instruction.shell_form or not instruction.command:
            return
        if not self.skips.allow("JSONArgsRecommended", node.start_line):
            return
        found = self.where(node)
        if found is None or found[0].continued:
            return
        located, parts = found
        command = instruction.command[0]
        words = _exec_words(command)
        if words is None or located.text[slice(*parts.rest)] != command:
            return
        if not self.shell_form_is_sh(index, instruction):
            return
        if isinstance(instruction, ins.Cmd):
            entrypoint = self.entrypoint_at_end(index)
            if entrypoint is not None and not entrypoint.shell_form:
                return  # CMD is that program's arguments: `sh -c '...'` is not the words
        elif not self.cmd_cannot_reach(index):
            return
        array = json.dumps(words, ensure_ascii=False)
        keyword = self.expected[self._slot[id(node)]].keyword
        self.edit(
            node,
            located.replace(*parts.rest, array),
            f"{keyword} in exec form: {array} (no shell in between: the program receives "
            "the signals)",
            args=tuple(words),
            json=True,
        )

    # -- what a stage inherits ---------------------------------------------------------

    def shell_form_is_sh(self, index: int, instruction: ins.Instruction) -> bool:
        """Shell form runs `/bin/sh -c` (or a POSIX shell like it) at this instruction."""
        graph = self.graph
        chain = graph.chain(index)
        root = graph.stages[chain[-1]].from_
        platforms = [graph.stages[i].from_.platform or "" for i in chain]
        if any(_WINDOWS.search(t) for t in [*platforms, graph.expand(root.base)]):
            return False  # Windows runs shell form with `cmd /S /C`
        shell: tuple[str, ...] | None = None
        for i in reversed(chain):
            for step in graph.effective(i):
                if step is instruction:
                    return _runs_like_sh(shell)
                if isinstance(step, ins.Shell):
                    shell = step.shell
        return _runs_like_sh(shell)

    def entrypoint_at_end(self, index: int) -> ins.Entrypoint | None:
        for i in self.graph.chain(index):
            found = [s for s in self.graph.effective(i) if isinstance(s, ins.Entrypoint)]
            if found:
                return found[-1]
        return None

    def cmd_cannot_reach(self, index: int) -> bool:
        """No CMD is appended to this stage's ENTRYPOINT: none in the stage (or the ONBUILD
        triggers it runs), none passed on in its own ONBUILD triggers, none in a stage
        built on it."""
        graph = self.graph
        for i in (index, *graph.descendants(index)):
            if any(isinstance(s, ins.Cmd) for s in graph.effective(i)):
                return False
        return not any(
            isinstance(s, ins.Onbuild) and isinstance(s.trigger, ins.Cmd)
            for s in graph.stages[index].instructions
        )


def _majority_lower(df: Dockerfile) -> bool:
    """ConsistentInstructionCasing's majority: FROM and stage instructions (not the
    global ARGs) written all lower against all upper; a tie is upper case."""
    lower = upper = 0
    for stage in df.stages:
        for instruction in stage.all_instructions:
            keyword = instruction.node.keyword
            if keyword == keyword.lower():
                lower += 1
            elif keyword == keyword.upper():
                upper += 1
    return lower > upper


def _verify(text: str, filename: str, expected: list[Node]) -> None:
    """The fixed text must parse to the intended instructions, line for line."""
    try:
        nodes = parse_dockerfile(text, filename).parsed.nodes
    except DockerfileError as exc:
        raise RuntimeError(f"etage fix broke the Dockerfile: {exc}") from exc
    if len(nodes) != len(expected):
        raise RuntimeError("etage fix changed the number of instructions")
    for got, want in zip(nodes, expected, strict=True):
        if dataclasses.replace(got, original=want.original) != want:
            raise RuntimeError(
                f"etage fix changed line {want.start_line} in a way it did not intend"
            )
