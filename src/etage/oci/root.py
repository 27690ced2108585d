"""Where the store lives by default (stdlib only: the no-op replay needs it early)."""

from __future__ import annotations

import os
from pathlib import Path


def default_root() -> Path:
    """ETAGE_ROOT, else /var/lib/etage as root, else $XDG_DATA_HOME/etage."""
    env = os.environ.get("ETAGE_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/etage")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "etage"
