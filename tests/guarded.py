"""Subprocesses under the network guard: an environment whose PYTHONPATH holds a
``sitecustomize`` that installs tests.netguard before the child runs any code."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "guarded_env"]

ROOT = Path(__file__).resolve().parent.parent


def guarded_env(
    folder: Path, *, without: tuple[str, ...] = (), extra_path: tuple[Path, ...] = ()
) -> dict[str, str]:
    """``os.environ`` plus the guard hook (written into ``folder``); ``without`` names modules the
    child must see as missing (``sys.modules[name] = None``), ``extra_path`` goes on PYTHONPATH."""
    hook = folder / "_netguard_hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.netguard import install\ninstall()\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in without)
    )
    path = os.pathsep.join([str(hook), *(str(p) for p in extra_path)])
    return {**os.environ, "PYTHONPATH": path}
