"""Django integration (optional; ``pip install django``): one ``LLM`` per process, loaded once when
Django starts, and a system check so ``manage.py check`` (and ``runserver``) report config errors
with file:line.

    INSTALLED_APPS = [..., "llmcfg.django"]        # the app config: llmcfg.django.apps.LLMCfgConfig
    LLMCFG_CONFIG = BASE_DIR / "llm_config.yaml"   # default: $LLMCFG_CONFIG, else ./llm_config.yaml

Views then use the process's LLM: ``llmcfg.chat(...)``, ``await llmcfg.achat(...)`` or
``llmcfg.django.llm()``. docs/django.md has the whole recipe, run by the test suite.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmcfg.calls.client import LLM

__all__ = ["SETTING", "config_path", "llm"]

SETTING = "LLMCFG_CONFIG"


def config_path() -> str:
    """``settings.LLMCFG_CONFIG``, else $LLMCFG_CONFIG, else ./llm_config.yaml."""
    from django.conf import settings

    from llmcfg.config.load import default_config_path

    configured = getattr(settings, SETTING, None)
    return os.fspath(configured) if configured else default_config_path()


def llm() -> LLM:
    """The process's LLM (loaded by the app config at start-up, or now on first use)."""
    from llmcfg.default import default_llm

    return default_llm()
