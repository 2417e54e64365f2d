"""Where the config file is when nobody says: $LLMCFG_CONFIG, else ./llm_config.yaml.

Apart from ``load`` (which builds the schema's pydantic models on import) so that the command line
can name the file without paying for the schema in commands that never read it.
"""

from __future__ import annotations

import os

__all__ = ["CONFIG_ENV_VAR", "DEFAULT_CONFIG_FILE", "default_config_path"]

DEFAULT_CONFIG_FILE = "llm_config.yaml"
CONFIG_ENV_VAR = "LLMCFG_CONFIG"


def default_config_path() -> str:
    """$LLMCFG_CONFIG, else ./llm_config.yaml."""
    return os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
