"""The ``llmcfg`` command line: thin; parses, calls the library, maps LLMCfgError to exit code 2."""

from llmcfg.cli.main import main

__all__ = ["main"]
