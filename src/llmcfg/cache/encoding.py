"""How llmcfg writes cache values: JSON for responses, raw bytes for images, never pickle.

Anyone who can write ``cache.dir`` (or a shared Redis) controls what a cache read decodes. Pickle
would run their code in the app; JSON and bytes can at worst be a wrong answer, which the caller
validates and treats as a miss. Every cache backend (diskcache here, Redis elsewhere) stores the
bytes these functions make and reads them back only through them.

Format of a response value: ``RESPONSE_MAGIC`` followed by compact UTF-8 JSON of a dict.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["RESPONSE_MAGIC", "decode_image", "decode_response", "encode_image", "encode_response"]

RESPONSE_MAGIC = b"llmcfg:r1:"  # versioned, so a future format change is a miss, not a misread


def encode_response(value: dict[str, Any]) -> bytes:
    """A result's JSON dump (``model_dump(mode="json")``) as bytes."""
    return RESPONSE_MAGIC + json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_response(data: object) -> dict[str, Any] | None:
    """The dict written by `encode_response`, or None (a miss) for anything else."""
    if not isinstance(data, bytes) or not data.startswith(RESPONSE_MAGIC):
        return None
    try:
        value = json.loads(data[len(RESPONSE_MAGIC) :])
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, or nesting deeper than json allows
        return None
    return value if isinstance(value, dict) else None


def encode_image(data: bytes) -> bytes:
    """Images are stored as their own bytes (the decoder re-checks them on every use)."""
    return bytes(data)


def decode_image(data: object) -> bytes | None:
    return data if isinstance(data, bytes) and data else None
