"""Runs at the start of every Python subprocess a test starts (conftest puts this folder first on
PYTHONPATH; tests/guarded.py does the same for the CLI's children): the same network guard as the
test process, loaded from its file so the child needs neither the repository on sys.path nor
anything imported beyond socket and ipaddress. Refusals go to ``$LLMCFG_NETGUARD_LOG``; the modules
named in ``$LLMCFG_NETGUARD_HIDE`` (comma-separated) are made missing (``sys.modules[name] = None``)."""

import importlib.util
import os
import sys

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "netguard.py")
_SPEC = importlib.util.spec_from_file_location("_llmcfg_netguard", _PATH)
if _SPEC is not None and _SPEC.loader is not None:
    _GUARD = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(_GUARD)
    _GUARD.install(log=os.environ.get(_GUARD.LOG_VARIABLE))
    for _name in filter(None, os.environ.get(_GUARD.HIDE_VARIABLE, "").split(",")):
        sys.modules[_name] = None  # type: ignore[assignment]
