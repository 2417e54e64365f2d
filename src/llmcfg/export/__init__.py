"""Writing llmcfg's config in other tools' formats (a LiteLLM Proxy ``config.yaml``)."""
