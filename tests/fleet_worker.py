"""A second process for the fleet tests: ``python -m tests.fleet_worker CONFIG ALIAS N`` makes N chat
calls with a fresh ``LLM`` and prints one JSON line per call (text, cached, error, key pool member)."""

from __future__ import annotations

import json
import sys

from llmcfg import LLM, load_config
from llmcfg.exceptions import LLMCfgError


def main(argv: list[str]) -> int:
    path, alias, count = argv[0], argv[1], int(argv[2])
    prompt = argv[3] if len(argv) > 3 else "hello"
    llm = LLM(load_config(path))
    for _ in range(count):
        try:
            result = llm.chat(prompt, model=alias)
            print(json.dumps({"text": result.text, "cached": result.cached}), flush=True)
        except LLMCfgError as error:
            retry_after = getattr(error, "retry_after", None)
            print(json.dumps({"error": type(error).__name__, "retry_after": retry_after}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
