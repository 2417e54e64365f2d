"""`llmcfg export litellm-proxy`: the file LiteLLM's proxy reads, checked with LiteLLM's own schema
(the proxy server itself needs the proxy extra) and driven through a Router built the way the proxy
builds it, against the FakeProvider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmcfg import load_config
from llmcfg.cli.main import main
from llmcfg.export.litellm_proxy import proxy_config
from llmcfg.routing.router import import_litellm
from llmcfg.testing import FakeProvider

CONFIG = """
version: 1
providers:
  openai: {{api_key: "${{EXPORT_OPENAI_KEY}}", api_base: "{base}"}}
  pool: {{kind: openai, api_base: "{base}", api_key: ["${{EXPORT_POOL_1}}", "os.environ/EXPORT_POOL_2"]}}
  house: {{kind: openai, api_base: "{base}", api_key: "${{EXPORT_HOUSE_KEY:-none}}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
  gpt4o: {{model: openai/gpt-4o, params: {{temperature: 0.2}}}}
  pooled: {{model: pool/gpt-4o-mini, price: {{input_per_mtok: 0.1, output_per_mtok: 0.4, cached_input_per_mtok: 0.05}}}}
  own: {{model: house/my-model, price: {{input_per_mtok: 2.0, output_per_mtok: 6.0}}, context_window: 8000}}
  embed: {{model: openai/text-embedding-3-small}}
  paint: {{model: openai/dall-e-2, mode: image_generation, price: {{per_image: 0.02}}}}
  local-ocr: {{model: rapidocr/ppocr}}
presets:
  text: {{fast: mini, balanced: own, best: gpt4o}}
fallbacks:
  gpt4o: [own, mini]
  own: [pooled]
fallbacks_on_context:
  mini: [gpt4o]
ocr: {{fallback: [local-ocr]}}
router: {{num_retries: 1, timeout_s: 7, cooldown_s: 11, allowed_fails: 4}}
"""

KEYS = {
    "EXPORT_OPENAI_KEY": "sk-export-openai",
    "EXPORT_POOL_1": "sk-export-pool-1",
    "EXPORT_POOL_2": "sk-export-pool-2",
    "EXPORT_HOUSE_KEY": "sk-export-house",
}


def _resolve_like_the_proxy(value: Any) -> Any:
    """What the proxy does to each ``os.environ/NAME`` value at start (get_secret)."""
    if isinstance(value, dict):
        return {k: _resolve_like_the_proxy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_like_the_proxy(v) for v in value]
    if isinstance(value, str) and value.startswith("os.environ/"):
        return os.environ[value.removeprefix("os.environ/")]
    return value


@pytest.fixture
def exported(write_config: Any, fake: FakeProvider, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    source = write_config(CONFIG.format(base=fake.base_url))
    out = tmp_path / "proxy.yaml"
    assert main(["export", "litellm-proxy", str(out), "--config", str(source)]) == 0
    return source, yaml.safe_load(out.read_text())


def test_the_file_matches_litellms_documented_proxy_schema(exported: tuple[Path, dict[str, Any]]) -> None:
    import_litellm()
    from litellm.proxy._types import ConfigYAML
    from litellm.router import router_arguments

    _source, data = exported
    parsed = ConfigYAML.model_validate(data)  # the proxy's own description of config.yaml
    assert parsed.model_list is not None
    assert len(parsed.model_list) == 7  # one deployment per key; the local OCR engine left out
    router_arguments(**data["router_settings"])  # every router setting is a Router argument


def test_keys_are_references_never_values(
    exported: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source, data = exported
    keys = [d["litellm_params"]["api_key"] for d in data["model_list"]]
    assert set(keys) == {f"os.environ/{name}" for name in KEYS}
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "again.yaml"
    assert main(["export", "litellm-proxy", str(out), "--config", str(source)]) == 0
    text = out.read_text()
    assert not any(value in text for value in KEYS.values())  # set in the environment, still not written


def test_round_trips_every_alias_fallback_setting_and_price(exported: tuple[Path, dict[str, Any]]) -> None:
    source, data = exported
    config = load_config(source)
    groups: dict[str, list[dict[str, Any]]] = {}
    for deployment in data["model_list"]:
        groups.setdefault(deployment["model_name"], []).append(deployment)
    assert set(groups) == set(config.models) - {"local-ocr"}
    assert len(groups["pooled"]) == 2
    assert groups["gpt4o"][0]["litellm_params"]["temperature"] == 0.2
    assert groups["own"][0]["litellm_params"]["model"] == "openai/my-model"
    for alias, deployments in groups.items():
        price = config.models[alias].price
        info = deployments[0]["model_info"]
        assert info.get("input_cost_per_token") == (
            price.input_per_mtok / 1e6 if price and price.input_per_mtok is not None else None
        )
        assert info.get("output_cost_per_token") == (
            price.output_per_mtok / 1e6 if price and price.output_per_mtok is not None else None
        )
        assert info.get("output_cost_per_image") == (price.per_image if price else None)
    assert groups["pooled"][1]["model_info"]["cache_read_input_token_cost"] == pytest.approx(0.05e-6)
    assert groups["own"][0]["model_info"]["max_input_tokens"] == 8000
    settings = data["router_settings"]
    assert [dict(e) for e in settings["fallbacks"]] == [{"gpt4o": ["own", "mini"]}, {"own": ["pooled"]}]
    assert settings["context_window_fallbacks"] == [{"mini": ["gpt4o"]}]
    assert settings["content_policy_fallbacks"] == [{"gpt4o": []}, {"own": []}]
    assert (settings["num_retries"], settings["timeout"]) == (1, 7)
    assert (settings["cooldown_time"], settings["allowed_fails"]) == (11, 4)


def test_a_router_built_like_the_proxy_serves_the_aliases(
    exported: tuple[Path, dict[str, Any]], fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy resolves os.environ/ values and hands router_settings to Router(): do the same."""
    _source, data = exported
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    litellm = import_litellm()
    resolved = _resolve_like_the_proxy(data)
    router = litellm.Router(model_list=resolved["model_list"], **resolved["router_settings"])
    fake.reply("hello", model="my-model", tokens_in=1000, tokens_out=500, times=1)
    response = router.completion(model="own", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "hello"
    assert fake.requests[-1].api_key == "sk-export-house"
    assert response._hidden_params["response_cost"] == pytest.approx(1000 * 2e-6 + 500 * 6e-6)
    fake.fail(500, model="my-model", times=10)
    fake.reply("from the pool", model="gpt-4o-mini")
    response = router.completion(model="own", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "from the pool"
    assert fake.requests[-1].api_key in {"sk-export-pool-1", "sk-export-pool-2"}


def test_export_to_stdout_warns_about_what_it_cannot_carry_and_never_imports_litellm(
    write_config: Any,
) -> None:
    source = write_config(CONFIG.format(base="http://127.0.0.1:9/v1"))
    code = (
        "import sys; from llmcfg.cli.main import main; "
        f"code = main(['export', 'litellm-proxy', '--config', {str(source)!r}]); "
        "assert 'litellm' not in sys.modules, 'export imported litellm'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["model_list"]
    assert "alias 'local-ocr' (rapidocr/ppocr) runs inside llmcfg only" in done.stderr
    assert "default of ${EXPORT_HOUSE_KEY:-...} is not carried over" in done.stderr


def test_library_function_returns_data_and_warnings(write_config: Any) -> None:
    exported = proxy_config(load_config(write_config(CONFIG.format(base="http://127.0.0.1:9/v1"))))
    assert exported.to_yaml().startswith("# LiteLLM Proxy config")
    assert len(exported.warnings) == 2
