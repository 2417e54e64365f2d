"""The system check: ``manage.py check`` lists every config problem with file:line.

The file is read again at check time (not the copy loaded at start-up), so an edit is checked as
it is now. Errors (``llmcfg.E001``) fail the check; unset key variables are warnings
(``llmcfg.W001``), since a development machine often runs without every key.
"""

from __future__ import annotations

from typing import Any

from django.core import checks

__all__ = ["check_config", "register"]

TAG = "llmcfg"


def check_config(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from llmcfg.config.load import load_config
    from llmcfg.config.plan import credential_warnings
    from llmcfg.django import SETTING, config_path
    from llmcfg.exceptions import ConfigError

    path = config_path()
    try:
        config = load_config(path)
    except ConfigError as error:
        hint = f"fix the file, or point settings.{SETTING} at the right one; `llmcfg validate {path}` checks it alone"
        return [checks.Error(str(issue), hint=hint, id="llmcfg.E001") for issue in error.issues]
    return [
        checks.Warning(f"{config.source}: {warning}", id="llmcfg.W001")
        for warning in credential_warnings(config)
    ]


def register() -> None:
    """Idempotent: Django's registry keeps one entry per function."""
    checks.register(check_config, TAG)
