"""What every group of BuildKit's build checks shares (see `etage.checks.buildkit`).

The rules that read the file as written (`buildkit_file`) and those that run while each
stage is dispatched (`buildkit_dispatch`) both report through `emit`, and both need the
environment BuildKit expands FROM lines with: the automatic platform ARGs and the ARGs
declared before the first FROM.
"""

from __future__ import annotations

from collections.abc import Mapping

from etage.checks.context import CheckInput
from etage.checks.model import Finding
from etage.dockerfile.shell import ShellLexer
from etage.errors import ExpansionError
from etage.plan.graph import default_args

__all__ = ["LinterBase"]


class LinterBase:
    """The input, the findings so far, and the ARG environment FROM lines expand with.

    The rule groups (`buildkit_file.FileRules`, `buildkit_dispatch.DispatchRules`)
    extend it; each `run()` returns what its rules found.
    """

    def __init__(self, ci: CheckInput) -> None:
        self.ci = ci
        self.df = ci.dockerfile
        self.plan = ci.plan
        self.escape = self.df.escape_token
        self.lexer = ShellLexer(self.escape)
        self.build_args = dict(self.plan.build_args)
        self.out: list[Finding] = []

    # -- emitting ------------------------------------------------------------------------

    def emit(
        self,
        rule_id: str,
        line: int,
        message: str,
        fix: str,
        *,
        stage: str | None = None,
    ) -> None:
        self.out.append(self.ci.finding(rule_id, line, message, fix=fix, stage=stage))

    # -- global ARGs as BuildKit evaluates them for FROM lines ---------------------------------

    def target_name(self) -> str:
        if self.ci.explicit_target:
            return self.plan.target_stage.name or ""
        return self.df.stages[-1].name or ""

    def meta_env(
        self, meta_build_args: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]] | None:
        """defaultArgs + buildMetaArgs: the env FROM lines expand with, and declared names.

        The automatic platform ARGs take their --build-arg overrides in both cases;
        `meta_build_args` are the values given to the ARGs declared before the first FROM.
        """
        env = default_args(self.plan.build_platform, self.plan.target_platform, self.target_name())
        for key in list(env):
            if key in self.build_args:
                env[key] = self.build_args[key]
        declared: list[str] = []
        for arg in self.df.global_args:
            for d in arg.args:
                declared.append(d.key)
                if d.key in meta_build_args:
                    env[d.key] = meta_build_args[d.key]
                elif d.default is not None:
                    try:
                        env[d.key] = self.lexer.process_word(d.default, env).result
                    except ExpansionError:
                        return None
        return env, declared
