"""The state of a stage while it is built, and what a finished stage hands on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etage.cache.keys import CacheKey
from etage.engine.result import StepResult
from etage.oci.model import Descriptor, History
from etage.plan.evaluate import StageEnv
from etage.runtime.snapshots import Snapshot

DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True, slots=True)
class LayerRef:
    """A layer of the image being built: a base image's (with its blob) or a new one."""

    snapshot: Snapshot
    base: Descriptor | None = None  # the base image's layer descriptor, if it came from one
    created_by: str = ""
    # A snapshot of its own with the same diff (COPY --link): exported instead, so the
    # blob is the same whatever the layer was stacked on.
    alone: Snapshot | None = None


@dataclass(slots=True)
class StageState:
    """Mutable while the stage is dispatched; frozen into StageResult at the end."""

    label: str
    snapshot: Snapshot | None
    key: CacheKey
    env: StageEnv  # ARG and ENV values (for expansion and RUN's environment)
    config: dict[str, Any]  # the container config, JSON keys (Env, Cmd, WorkingDir...)
    architecture: str
    os: str
    variant: str = ""
    author: str = ""
    history: list[History] = field(default_factory=list)
    layers: list[LayerRef] = field(default_factory=list)
    build_args: list[tuple[str, str | None]] = field(default_factory=list)  # declared ARGs
    cmd_set: bool = False  # CMD given in this stage (ENTRYPOINT resets an inherited CMD)
    step_created: str = ""  # when the last filesystem step's result was first made
    workdir_set: bool = False

    @property
    def workdir(self) -> str:
        return str(self.config.get("WorkingDir") or "/")

    @property
    def user(self) -> str:
        return str(self.config.get("User") or "")

    @property
    def shell(self) -> tuple[str, ...]:
        shell = self.config.get("Shell")
        return tuple(shell) if shell else DEFAULT_SHELL

    def set_env(self, key: str, value: str) -> None:
        """Docker's addEnv: replace KEY in place, or append."""
        env: list[str] = list(self.config.get("Env") or [])
        for i, item in enumerate(env):
            if item.partition("=")[0] == key:
                env[i] = f"{key}={value}"
                break
        else:
            env.append(f"{key}={value}")
        self.config["Env"] = env


@dataclass(frozen=True, slots=True)
class StageResult:
    label: str
    snapshot: Snapshot | None
    key: CacheKey
    config: dict[str, Any]
    architecture: str
    os: str
    variant: str
    author: str
    history: tuple[History, ...]
    layers: tuple[LayerRef, ...]
    env: StageEnv
    build_args: tuple[tuple[str, str | None], ...]
    workdir_set: bool
    steps: tuple[StepResult, ...] = ()
