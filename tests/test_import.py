"""``import llmcfg`` stays cheap: no litellm, and the price file is found without importing it."""

from __future__ import annotations

import subprocess
import sys

import llmcfg


def test_import_llmcfg_does_not_import_litellm_and_sets_offline_price_map() -> None:
    code = (
        "import os, sys\nos.environ.pop('LITELLM_LOCAL_MODEL_COST_MAP', None)\nimport llmcfg\n"
        "assert 'litellm' not in sys.modules\n"
        "assert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'True'\n"
        "llmcfg.load_config('llm_config.yaml')\nassert 'litellm' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_user_choice_of_cost_map_is_kept() -> None:
    code = "import os\nos.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'False'\nimport llmcfg\nassert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'False'\n"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_every_public_name_resolves() -> None:
    for name in llmcfg.__all__:
        assert getattr(llmcfg, name) is not None, name
