"""Runs at the start of every Python subprocess a test starts (conftest puts this folder first on
PYTHONPATH): the same network guard as the test process, loaded from its file so the child needs
neither the repository on sys.path nor anything imported beyond socket and ipaddress."""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "netguard.py")
_SPEC = importlib.util.spec_from_file_location("_llmcfg_netguard", _PATH)
if _SPEC is not None and _SPEC.loader is not None:
    _GUARD = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(_GUARD)
    _GUARD.install(log=os.environ.get(_GUARD.LOG_VARIABLE))
