"""Routing: config compiled to LiteLLM Router arguments, the live Router, provider errors translated. The only room (with ocr.provider) that imports litellm."""
