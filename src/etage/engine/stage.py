"""One stage, instruction by instruction, with BuildKit's semantics.

Metadata instructions (ENV, LABEL, CMD...) change the image config and add an empty
history entry; filesystem instructions (RUN, COPY, ADD, WORKDIR) are steps with a cache
key, run in a working tree and committed as snapshots (see fsops.py).
"""

from __future__ import annotations

import copy
import posixpath
import time
from typing import Any

from etage.cache.keys import make_key
from etage.dockerfile import instructions as ins
from etage.dockerfile.convert import build_instruction
from etage.dockerfile.lexer import parse_text
from etage.dockerfile.shell import ShellLexer
from etage.engine import fsops
from etage.engine.history import (
    HISTORY_COMMENT,
    go_duration,
    go_list,
    go_value_list,
    timestamp,
)
from etage.engine.result import StepResult
from etage.engine.session import BuildSession
from etage.engine.state import LayerRef, StageResult, StageState
from etage.errors import EtageError, ExpansionError, SourceLocation
from etage.events import StepDone, StepStarted
from etage.oci.model import History
from etage.plan.evaluate import DEFAULT_PATH, Evaluator, StageEnv
from etage.plan.model import PlannedStage


class StepError(EtageError):
    """A step failed: names the stage and the Dockerfile line."""


class StageBuilder:
    def __init__(self, session: BuildSession, planned: PlannedStage) -> None:
        self.s = session
        self.planned = planned
        self.label = planned.label
        plan = session.plan
        self.evaluator = Evaluator(
            session.dockerfile.escape_token, dict(plan.global_env), dict(session.options.build_args)
        )
        self.lexer = ShellLexer(session.dockerfile.escape_token)
        self.steps: list[StepResult] = []
        self.no_cache = session.options.no_cache or planned.name in session.options.no_cache_filter

    # -- the whole stage ---------------------------------------------------------------------

    def run(self) -> StageResult:
        state, triggers = self._initial_state()
        todo: list[ins.Instruction] = [*triggers, *self.planned.stage.instructions]
        in_image = self.planned.index in self.s.image_stages and self.s.exporter is not None
        for n, instruction in enumerate(todo, 1):
            if self.s.cancel.is_set():
                raise KeyboardInterrupt
            known = len(state.layers)
            try:
                self._dispatch(state, instruction, n)
            except ExpansionError as exc:
                raise self._located(exc, instruction) from None
            except EtageError as exc:
                raise self._located(exc, instruction) from None
            if in_image:
                for ref in state.layers[known:]:
                    if ref.base is None:
                        self.s.exporter.submit((ref.alone or ref.snapshot).id)
        return StageResult(
            label=self.label,
            snapshot=state.snapshot,
            key=state.key,
            config=state.config,
            architecture=state.architecture,
            os=state.os,
            variant=state.variant,
            author=state.author,
            history=tuple(state.history),
            layers=tuple(state.layers),
            env=state.env,
            build_args=tuple(state.build_args),
            workdir_set=state.workdir_set,
            steps=tuple(self.steps),
        )

    def _located(self, exc: EtageError, instruction: ins.Instruction) -> EtageError:
        df = self.s.dockerfile
        line = (
            instruction.line
            if instruction.location.file == df.filename
            else self.planned.stage.from_.line
        )
        return exc.with_location(SourceLocation(df.filename, line), df.source_line(line))

    def _initial_state(self) -> tuple[StageState, list[ins.Instruction]]:
        p = self.planned
        triggers: list[ins.Instruction] = list(p.onbuild_triggers)
        if p.base_stage is not None:
            parent = self.s.stage_result(p.base_stage)
            config = copy.deepcopy(parent.config)
            config.pop("OnBuild", None)  # triggers do not carry over from a stage base
            state = StageState(
                label=self.label,
                snapshot=parent.snapshot,
                key=parent.key,
                env=parent.env.copy(),
                config=config,
                architecture=parent.architecture,
                os=parent.os,
                variant=parent.variant,
                author=parent.author,
                history=list(parent.history),
                layers=list(parent.layers),
                build_args=list(parent.build_args),
                workdir_set=parent.workdir_set,
            )
            return state, triggers
        self._check_platform()
        started = time.monotonic()
        step = f"{self.label}#0"
        self.s.emit(StepStarted(step, self.label, p.stage.from_.line, f"FROM {p.base}"))
        base = self.s.bases.resolve(p.base)
        self.s.emit(StepDone(step, cached=not base.fetched, duration=time.monotonic() - started))
        cfg = base.config
        # FROM scratch: BuildKit's emptyImage sets WorkingDir "/" (and PATH, below).
        base_config: dict[str, Any] = copy.deepcopy(cfg.config) if cfg else {"WorkingDir": "/"}
        image_triggers = list(base_config.pop("OnBuild", None) or [])
        env_list = list(base_config.get("Env") or [])
        if not any(e.partition("=")[0] == "PATH" for e in env_list):
            env_list.append(f"PATH={DEFAULT_PATH}")
        base_config["Env"] = env_list
        env = StageEnv({k: v for k, _, v in (e.partition("=") for e in env_list)})
        plat = self.s.platform
        key = make_key(
            "base",
            None,
            {
                "image": str(base.manifest.digest) if base.manifest else "scratch",
                "platform": str(plat),
            },
        )
        state = StageState(
            label=self.label,
            snapshot=base.top,
            key=key,
            env=env,
            config=base_config,
            architecture=cfg.architecture if cfg else plat.architecture,
            os=cfg.os if cfg else plat.os,
            variant=cfg.variant if cfg else plat.variant,
            author=cfg.author if cfg else "",
            history=list(cfg.history) if cfg else [],
            layers=[LayerRef(s, d) for s, d in zip(base.snapshots, base.layers, strict=True)],
        )
        # the image's triggers run first, in the order they were declared
        triggers[:0] = [self._parse_trigger(str(text)) for text in image_triggers]
        return state, triggers

    def _parse_trigger(self, text: str) -> ins.Instruction:
        parsed = parse_text(text, f"ONBUILD of {self.planned.base}")
        if len(parsed.nodes) != 1:
            raise EtageError(f"onbuild trigger should be a single expression: {text!r}")
        return build_instruction(parsed.nodes[0], f"ONBUILD of {self.planned.base}")

    def _check_platform(self) -> None:
        wanted = self.planned.platform
        if wanted is None:
            return
        from etage.platforms import Platform

        if Platform.parse(wanted) != self.s.platform:
            raise EtageError(
                f"FROM --platform={wanted}: only the native platform"
                f" ({self.s.platform}) can be built for now",
                location=SourceLocation(self.s.dockerfile.filename, self.planned.stage.from_.line),
            )

    # -- one instruction -----------------------------------------------------------------------

    def _history(self, state: StageState, text: str, *, layer: bool, created: str = "") -> None:
        """Metadata entries get no time here: the exporter gives them the time of the
        layer before them, as BuildKit does, so a fully cached rebuild is identical."""
        if self.s.epoch is not None:
            created = timestamp(self.s.epoch)
        state.history.append(
            History(
                created=created, created_by=text, comment=HISTORY_COMMENT, empty_layer=not layer
            )
        )

    def _dispatch(self, state: StageState, instruction: ins.Instruction, n: int) -> None:
        if isinstance(instruction, ins.Run | ins.Copy | ins.Add | ins.Workdir):
            fsops.dispatch(self, state, instruction, n)
            return
        expanded = self.evaluator.apply(instruction, state.env)
        words = list(expanded.words)
        cfg = state.config
        match instruction:
            case ins.Env():
                for word in words:
                    key, _, value = word.partition("=")
                    state.set_env(key, value)
                self._history(state, "ENV " + " ".join(words), layer=False)
            case ins.Arg():
                for arg in instruction.args:
                    state.build_args.append((arg.key, state.env.env.get(arg.key)))
                self._history(state, "ARG " + " ".join(words), layer=False)
            case ins.Label():
                labels = dict(cfg.get("Labels") or {})
                for word in words:
                    key, _, value = word.partition("=")
                    labels[key] = value
                cfg["Labels"] = labels
                self._history(state, "LABEL " + " ".join(words), layer=False)
            case ins.Maintainer():
                state.author = instruction.maintainer
                self._history(state, f"MAINTAINER {instruction.maintainer}", layer=False)
            case ins.User():
                cfg["User"] = words[0]
                self._history(state, f"USER {words[0]}", layer=False)
            case ins.Expose():
                ports = [port for word in words for port in _ports(word)]
                exposed = dict(cfg.get("ExposedPorts") or {})
                exposed.update({p: {} for p in ports})
                cfg["ExposedPorts"] = exposed
                self._history(state, f"EXPOSE {go_value_list(ports)}", layer=False)
            case ins.Volume():
                volumes = dict(cfg.get("Volumes") or {})
                volumes.update({v: {} for v in words})
                cfg["Volumes"] = volumes
                self._history(state, f"VOLUME {go_value_list(words)}", layer=False)
            case ins.Stopsignal():
                cfg["StopSignal"] = words[0]
                self._history(state, f"STOPSIGNAL {words[0]}", layer=False)
            case ins.Healthcheck():
                cfg["Healthcheck"] = _healthcheck(instruction)
                self._history(state, f"HEALTHCHECK {_healthcheck_text(instruction)}", layer=False)
            case ins.Cmd():
                args = (
                    list(instruction.command)
                    if not instruction.shell_form
                    else [*state.shell, *instruction.command]
                )
                cfg["Cmd"] = args
                cfg["ArgsEscaped"] = True
                state.cmd_set = True
                self._history(state, f"CMD {go_list(args)}", layer=False)
            case ins.Entrypoint():
                args = (
                    list(instruction.command)
                    if not instruction.shell_form
                    else [*state.shell, *instruction.command]
                )
                cfg["Entrypoint"] = args or None
                if not state.cmd_set:
                    cfg.pop("Cmd", None)
                self._history(state, f"ENTRYPOINT {go_list(args)}", layer=False)
            case ins.Shell():
                cfg["Shell"] = list(instruction.shell)
                self._history(state, f"SHELL {go_value_list(instruction.shell)}", layer=False)
            case ins.Onbuild():
                cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), instruction.expression]
            case _:
                raise EtageError(f"{instruction.keyword} is not supported here")


def _ports(text: str) -> list[str]:
    """BuildKit's parsePort: `[[ip:]host:]port[-end][/proto]` -> "N/proto" for each port of
    the range (the protocol lowercased, tcp by default)."""
    container = text.rsplit(":", 1)[-1]
    port, _, proto = container.partition("/")
    proto = proto or "tcp"
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise EtageError(f'invalid port: "{text}": invalid proto: {proto}')
    start_text, dash, end_text = port.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if dash and end_text != start_text else start
    except ValueError:
        raise EtageError(f"invalid containerPort: {port}") from None
    if not (0 <= start <= end <= 65535):
        raise EtageError(f"invalid containerPort: {port}")
    return [f"{n}/{proto.lower()}" for n in range(start, end + 1)]


def _healthcheck_text(h: ins.Healthcheck) -> str:
    """Go's %+v of the HealthcheckConfig struct, as BuildKit writes it in the history."""
    durations = (
        ("Interval", h.interval), ("Timeout", h.timeout),
        ("StartPeriod", h.start_period), ("StartInterval", h.start_interval),
    )  # fmt: skip
    fields = [f"Test:{go_value_list(h.test)}"]
    fields += [f"{name}:{go_duration(round((value or 0) * 1e9))}" for name, value in durations]
    fields.append(f"Retries:{h.retries or 0}")
    return "{" + " ".join(fields) + "}"


def _healthcheck(h: ins.Healthcheck) -> dict[str, Any]:
    out: dict[str, Any] = {"Test": list(h.test)}
    for key, value in (
        ("Interval", h.interval), ("Timeout", h.timeout), ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ):  # fmt: skip
        if value:
            out[key] = round(value * 1e9)
    if h.retries:
        out["Retries"] = h.retries
    return out


def normalize_workdir(current: str, path: str) -> str:
    joined = path if path.startswith("/") else posixpath.join(current or "/", path)
    return posixpath.normpath(joined) if joined != "/" else "/"
