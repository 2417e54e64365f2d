"""Subprocesses under the network guard: the environment every Python child a test starts gets,
with ``tests/netguard_site`` (whose ``sitecustomize`` installs tests.netguard before the child runs
any code) first on PYTHONPATH and the refusal log of the test session, so a refused connection in
ANY child reaches the file the autouse fixture in tests/conftest.py checks. One hook for every
child: the CLI tests, the Django recipe and plain ``python -c`` checks alike."""

from __future__ import annotations

import os
from pathlib import Path

from tests.netguard import HIDE_VARIABLE, LOG_VARIABLE

__all__ = ["ROOT", "SITE", "guarded_env"]

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(__file__).resolve().parent / "netguard_site"


def guarded_env(
    folder: Path | None = None, *, without: tuple[str, ...] = (), extra_path: tuple[Path, ...] = ()
) -> dict[str, str]:
    """``os.environ`` plus the guard hook; ``without`` names modules the child must see as missing
    (``sys.modules[name] = None``), ``extra_path`` goes on PYTHONPATH after the hook. ``folder`` is
    accepted for the callers that name one; nothing is written there any more."""
    environment = dict(os.environ)
    if LOG_VARIABLE not in environment:  # conftest sets it at import; a guard without a log is no guard
        raise RuntimeError(f"{LOG_VARIABLE} is not set: import tests.conftest first")
    environment["PYTHONPATH"] = os.pathsep.join([str(SITE), *(str(p) for p in extra_path)])
    environment[HIDE_VARIABLE] = ",".join(without)
    return environment
