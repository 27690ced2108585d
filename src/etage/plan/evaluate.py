"""ARG and ENV as BuildKit evaluates them, stage by stage.

BuildKit keeps, for each stage, an environment (the base image's ENV, then each ARG
and ENV in order; a later one wins, whichever kind it is) and the list of declared
ARGs. Instruction arguments are expanded against it: ENV, LABEL, COPY/ADD paths and
--chown/--chmod, WORKDIR, USER, VOLUME, STOPSIGNAL, RUN --mount values, heredoc bodies
with an unquoted delimiter. RUN commands, CMD, ENTRYPOINT and SHELL are not expanded
by the builder: the shell in the container does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from etage.dockerfile import instructions as ins
from etage.dockerfile.shell import ShellLexer
from etage.errors import ExpansionError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Not turned into environment variables of the build (BuildKit's nonEnvArgs).
NON_ENV_ARGS = frozenset({"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"})

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip


@dataclass(slots=True)
class StageEnv:
    """The mutable state while walking one stage."""

    env: dict[str, str]
    declared_args: list[str] = field(default_factory=list)
    base_known: bool = True  # False when the base image's own ENV is unknown here

    def copy(self) -> StageEnv:
        return StageEnv(dict(self.env), list(self.declared_args), self.base_known)


@dataclass(frozen=True, slots=True)
class Expanded:
    """What one instruction's arguments became, and the names it could not resolve."""

    words: tuple[str, ...]
    unmatched: frozenset[str]


class Evaluator:
    """Walks instructions, updating a StageEnv and expanding what BuildKit expands."""

    def __init__(
        self,
        escape_token: str,
        global_args: Mapping[str, str],
        build_args: Mapping[str, str],
    ) -> None:
        self.lexer = ShellLexer(escape_token)
        self.raw_lexer = ShellLexer("\\", skip_process_quotes=True)
        self.global_args = global_args
        self.build_args = build_args

    def word(self, text: str, state: StageEnv, sink: set[str]) -> str:
        result = self.lexer.process_word(text, state.env)
        sink.update(result.unmatched)
        return result.result

    def apply(self, instruction: ins.Instruction, state: StageEnv) -> Expanded:
        """Update `state` for ARG/ENV; return the expanded arguments of the instruction.

        Raises ExpansionError (without a location: the caller adds it).
        """
        unmatched: set[str] = set()
        words: list[str] = []
        match instruction:
            case ins.Arg():
                for arg in instruction.args:
                    value: str | None
                    if arg.key in self.build_args:
                        value = self.build_args[arg.key]
                    elif arg.default is not None:
                        value = self.word(arg.default, state, unmatched)
                    else:
                        value = self.global_args.get(arg.key)
                    if value is not None and arg.key not in NON_ENV_ARGS:
                        state.env[arg.key] = value
                    state.declared_args.append(arg.key)
                    words.append(arg.key if value is None else f"{arg.key}={value}")
            case ins.Env():
                pairs = [
                    (self.word(p.key, state, unmatched), self.word(p.value, state, unmatched))
                    for p in instruction.pairs
                ]
                for key, value in pairs:
                    state.env[key] = value
                    words.append(f"{key}={value}")
            case ins.Label():
                for p in instruction.pairs:
                    key = self.word(p.key, state, unmatched)
                    words.append(f"{key}={self.word(p.value, state, unmatched)}")
            case ins.Copy() | ins.Add():
                for opt in (instruction.chown, instruction.chmod):
                    if opt is not None:
                        self.word(opt, state, unmatched)
                if isinstance(instruction, ins.Add) and instruction.checksum is not None:
                    self.word(instruction.checksum, state, unmatched)
                words.extend(self.word(s, state, unmatched) for s in instruction.sources)
                words.append(self.word(instruction.dest, state, unmatched))
                for source in instruction.inline:
                    if source.expand:
                        result = self.raw_lexer.process_word(source.data, state.env)
                        unmatched.update(result.unmatched)
            case ins.Workdir():
                words.append(self.word(instruction.path, state, unmatched))
            case ins.User():
                words.append(self.word(instruction.user, state, unmatched))
            case ins.Stopsignal():
                words.append(self.word(instruction.signal, state, unmatched))
            case ins.Volume():
                words.extend(self.word(p, state, unmatched) for p in instruction.paths)
            case ins.Run():
                words.extend(self.word(m, state, unmatched) for m in instruction.mounts)
            case ins.Expose():
                for port in instruction.ports:
                    words.extend(self.lexer.process_words(port, state.env))
            case _:
                pass
        unmatched.difference_update(state.declared_args)
        unmatched.difference_update(NON_ENV_ARGS)
        return Expanded(tuple(words), frozenset(unmatched))


def initial_env(base_env: Mapping[str, str] | None) -> StageEnv:
    """The environment a stage starts with: its base image's ENV, with PATH always set."""
    if base_env is None:
        # An external image: its ENV is not known before it is pulled. PATH is set by
        # nearly every image, and BuildKit sets it when missing, so it is defined.
        return StageEnv({"PATH": DEFAULT_PATH}, base_known=False)
    env = dict(base_env)
    env.setdefault("PATH", DEFAULT_PATH)
    return StageEnv(env)


def expand_for_from(
    lexer: ShellLexer, text: str, env: Mapping[str, str]
) -> tuple[str, frozenset[str], frozenset[str]]:
    """Expand a FROM argument with the global ARGs: (result, matched, unmatched)."""
    result = lexer.process_word(text, env)
    return result.result, result.matched, result.unmatched


__all__ = [
    "DEFAULT_PATH",
    "PROXY_ARGS",
    "Evaluator",
    "Expanded",
    "ExpansionError",
    "StageEnv",
    "expand_for_from",
    "initial_env",
]
