"""The `etage` command: a no-op `etage build` is answered by etage.fastpath before the
CLI (click and the whole API) is imported; everything else goes to etage.cli."""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    if "build" in argv and not os.environ.get("ETAGE_NO_FASTPATH"):
        from etage.fastpath import try_build

        try:
            code = try_build(argv)
        except Exception:  # any surprise: the full path decides, and reports it
            code = None
        if code is not None:
            sys.exit(code)
    from etage.cli import main as cli_main

    cli_main()
