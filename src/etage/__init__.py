"""etage: a daemonless builder for multi-stage Dockerfiles.

The public API is re-exported here and loaded lazily, so `etage --help` stays fast.
"""

from __future__ import annotations

from etage.version import __version__

TYPE_CHECKING = False  # not typing's: `import etage` must not load typing (fast path)

__all__ = [
    "BuildPlan",
    "BuildResult",
    "CheckReport",
    "Dockerfile",
    "EtageError",
    "Finding",
    "__version__",
    "build",
    "check",
    "parse_dockerfile",
    "plan_build",
]

_LAZY = {
    "BuildPlan": ("etage.plan.model", "BuildPlan"),
    "BuildResult": ("etage.engine.result", "BuildResult"),
    "build": ("etage.api", "build"),
    "CheckReport": ("etage.checks.runner", "CheckReport"),
    "Dockerfile": ("etage.dockerfile.parse", "Dockerfile"),
    "EtageError": ("etage.errors", "EtageError"),
    "Finding": ("etage.checks.model", "Finding"),
    "check": ("etage.api", "check"),
    "parse_dockerfile": ("etage.dockerfile.parse", "parse_dockerfile"),
    "plan_build": ("etage.api", "plan_build"),
}

if TYPE_CHECKING:
    from etage.api import build, check, plan_build
    from etage.checks.model import Finding
    from etage.checks.runner import CheckReport
    from etage.dockerfile.parse import Dockerfile, parse_dockerfile
    from etage.engine.result import BuildResult
    from etage.errors import EtageError
    from etage.plan.model import BuildPlan


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etage' has no attribute {name!r}")
