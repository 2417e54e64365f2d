"""Structured output: JSON out of model text, validated against a pydantic model, with retries that
feed the validation errors back to the model."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "Schema",
    "check_schema",
    "extract_json",
    "feedback",
    "response_format",
    "schema_instruction",
    "validate_answer",
]

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _balanced(text: str) -> str | None:
    """The first complete {...} or [...] in ``text``, respecting strings."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    opening = text[start]
    closing = "}" if opening == "{" else "]"
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return None


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer: code fences, prose around the object, single quotes and
    trailing commas are tolerated. Raises ValueError when there is none."""
    candidates = [match.strip() for match in _FENCE.findall(text)] + [text.strip()]
    for candidate in candidates:
        for piece in (candidate, _balanced(candidate)):
            if not piece:
                continue
            for attempt in (piece, _TRAILING_COMMA.sub(r"\1", piece)):
                try:
                    return json.loads(attempt)
                except json.JSONDecodeError:
                    pass
                try:  # single quotes, True/False/None: Python literal syntax
                    value = ast.literal_eval(attempt)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
                if isinstance(value, (dict, list)):
                    return value
    raise ValueError("no JSON object or array found in the text")


# What ``extract`` accepts: a pydantic model (gives an instance) or a JSON Schema dict (gives a dict).
Schema = type[BaseModel] | dict[str, Any]


def _json_schema(schema: Schema) -> tuple[str, dict[str, Any]]:
    if isinstance(schema, dict):
        name = "".join(c for c in str(schema.get("title") or "Answer") if c.isalnum() or c in "_-")
        return name or "Answer", schema
    return schema.__name__, schema.model_json_schema()


def check_schema(schema: Schema) -> None:
    """A dict must be a valid JSON Schema: a broken one fails here, before any request."""
    if isinstance(schema, dict):
        import jsonschema

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as error:
            raise TypeError(f"schema is not a valid JSON Schema: {error.message}") from None
    elif not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError("schema must be a pydantic model class or a JSON Schema dict")


def response_format(schema: Schema, strict_schema: bool) -> dict[str, Any]:
    if strict_schema:
        name, body = _json_schema(schema)
        return {"type": "json_schema", "json_schema": {"name": name, "schema": body, "strict": False}}
    return {"type": "json_object"}


def schema_instruction(schema: Schema) -> dict[str, str]:
    """For models without JSON-schema mode: the schema, said in words."""
    return {
        "role": "system",
        "content": "Answer with one JSON object only, matching this JSON Schema:\n"
        + json.dumps(_json_schema(schema)[1], separators=(",", ":")),
    }


def validate_answer(schema: Schema, text: str) -> tuple[Any, str]:
    """(value, '') when ``text`` holds a valid instance (a dict for a JSON Schema), else (None, what
    was wrong)."""
    try:
        data = extract_json(text)
    except ValueError as error:
        return None, str(error)
    if isinstance(schema, dict):
        import jsonschema

        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            return None, "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:5]
            )
        return data, ""
    try:
        return schema.model_validate(data), ""
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
        )
        return None, problems


def feedback(answer: str, problems: str) -> list[dict[str, str]]:
    return [
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": f"That answer did not match the schema ({problems}). Reply with only the corrected JSON.",
        },
    ]
