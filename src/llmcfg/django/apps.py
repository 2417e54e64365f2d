"""The app config: loads the config once per process and registers the system check.

A broken config does not stop Django from starting here: the system check reports it with
file:line (``manage.py check``, ``runserver``, ``migrate``), which is clearer than a traceback from
``ready()``; the first call then raises the same ``ConfigError``. For that, and so that module-level
``llmcfg.chat(...)`` and any ``llmcfg`` command started from the app read the same file,
``settings.LLMCFG_CONFIG`` is also put into ``$LLMCFG_CONFIG`` (the one variable that picks the
config).
"""

from __future__ import annotations

import os

from django.apps import AppConfig

__all__ = ["LLMCfgConfig"]


class LLMCfgConfig(AppConfig):  # type: ignore[misc]  # django ships no type hints
    name = "llmcfg.django"
    label = "llmcfg"
    verbose_name = "llmcfg"

    def ready(self) -> None:
        from llmcfg.calls.client import LLM
        from llmcfg.config.load import CONFIG_ENV_VAR
        from llmcfg.default import set_default
        from llmcfg.django import checks, config_path
        from llmcfg.exceptions import ConfigError

        checks.register()
        path = config_path()
        os.environ[CONFIG_ENV_VAR] = path
        try:
            # Cheap: validates the YAML; the Router is built on the first call.
            set_default(LLM.from_yaml(path))
        except ConfigError:
            set_default(None)  # the check says why; the first call raises it again
