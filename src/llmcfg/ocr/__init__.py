"""OCR: modes, the offline engine, its LiteLLM provider, batch runs."""
