"""What llmcfg tells observability systems besides its own ``llm.call`` event (OpenTelemetry)."""
