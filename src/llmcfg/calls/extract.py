"""Structured output for ``LLM``: ``extract`` asks for JSON matching a schema, validates the answer
and asks again with the errors. Each attempt is a whole chat call (``calls.text.ChatJob``) run by the
one protocol as a ``Nested`` step, so every attempt has its own event, cost and budget reservation;
the schema handling itself is in ``calls.structured``."""

from __future__ import annotations

from typing import Any, TypeVar, overload

from pydantic import BaseModel

from llmcfg.calls.core import CallCore, Message, build_messages
from llmcfg.calls.pipeline import Nested, Steps, adrive, call_steps, drive
from llmcfg.calls.structured import (
    Schema,
    check_schema,
    feedback,
    response_format,
    schema_instruction,
    validate_answer,
)
from llmcfg.calls.text import ChatJob
from llmcfg.exceptions import StructuredOutputError
from llmcfg.results import ChatResult, ExtractResult

__all__ = ["ExtractMethods"]

M = TypeVar("M", bound=BaseModel)


def _extracted(schema: Schema, value: Any, answers: list[ChatResult]) -> ExtractResult[Any]:
    last = answers[-1]
    costs = [a.cost_usd for a in answers]
    kind = dict[str, Any] if isinstance(schema, dict) else schema
    return ExtractResult[kind](  # type: ignore[valid-type]
        value=value,
        attempts=len(answers),
        raw_text=last.text,
        model=last.model,
        alias=last.alias,
        requested=last.requested,
        fallbacks_tried=last.fallbacks_tried,
        skipped=last.skipped,
        tokens_in=sum(a.tokens_in for a in answers),
        tokens_out=sum(a.tokens_out for a in answers),
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        cost_source=last.cost_source,
        cached=all(a.cached for a in answers),
        saved_usd=sum(a.saved_usd for a in answers),
        latency_ms=sum(a.latency_ms for a in answers),
        request_id=last.request_id,
    )


def _extract_failed(answers: list[ChatResult], problems: str) -> StructuredOutputError:
    last = answers[-1]
    error = StructuredOutputError(
        f"alias {last.alias!r} ({last.model}) gave no valid answer in {len(answers)} attempts: {problems[:300]}",
        alias=last.alias,
        model=last.model,
        tried=(last.alias,),
    )
    error.raw_text = last.text
    return error


class ExtractMethods(CallCore):
    @overload
    def extract(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> M: ...

    @overload
    def extract(
        self,
        prompt_or_messages: str | list[Message],
        schema: dict[str, Any],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> dict[str, Any]: ...

    def extract(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> Any:
        """A validated instance of ``schema`` from the model's answer (see ``extract_result``); with
        a JSON Schema dict, the validated dict."""
        return self.extract_result(
            prompt_or_messages, schema, quality=quality, model=model, retries=retries, **params
        ).value

    @overload
    def extract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[M]: ...

    @overload
    def extract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: dict[str, Any],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[dict[str, Any]]: ...

    def extract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> Any:
        """Ask for JSON matching ``schema`` (a pydantic model, or a JSON Schema dict): JSON-schema
        mode where the model has it, else JSON mode plus the schema in words; on a validation
        failure, ask again with the errors, up to ``retries`` times, then raise
        StructuredOutputError with the last raw text."""
        return drive(self._extract_steps(prompt_or_messages, schema, quality, model, retries, params))

    @overload
    async def aextract(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> M: ...

    @overload
    async def aextract(
        self,
        prompt_or_messages: str | list[Message],
        schema: dict[str, Any],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> dict[str, Any]: ...

    async def aextract(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> Any:
        """``extract``, awaited."""
        result = await self.aextract_result(
            prompt_or_messages, schema, quality=quality, model=model, retries=retries, **params
        )
        return result.value

    @overload
    async def aextract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[M]: ...

    @overload
    async def aextract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: dict[str, Any],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[dict[str, Any]]: ...

    async def aextract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> Any:
        """``extract_result``, awaited."""
        return await adrive(self._extract_steps(prompt_or_messages, schema, quality, model, retries, params))

    def _extract_steps(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        quality: str | None,
        model: str | None,
        retries: int,
        params: dict[str, Any],
    ) -> Steps[ExtractResult[Any]]:
        """One chat call per attempt (each the whole protocol, with its own event), until valid."""
        check_schema(schema)
        messages, fmt = self._extract_setup(prompt_or_messages, schema, quality, model)
        answers: list[ChatResult] = []
        for _ in range(retries + 1):
            job = ChatJob(self, messages, {**params, "response_format": fmt}, quality, model, None)
            answer: ChatResult = yield Nested(call_steps(self, job))
            answers.append(answer)
            value, problems = validate_answer(schema, answer.text)
            if value is not None:
                return _extracted(schema, value, answers)
            messages = [*job.body, *feedback(answer.text, problems)]  # images as sent: fetched once
        raise _extract_failed(answers, problems)

    def _extract_setup(
        self,
        prompt_or_messages: str | list[Message],
        schema: Schema,
        quality: str | None,
        model: str | None,
    ) -> tuple[list[Message], dict[str, Any]]:
        alias, _ = self.resolve("text", quality=quality, model=model)
        strict = self._describe(alias).json_schema
        messages = (
            build_messages(prompt_or_messages, None, None)
            if isinstance(prompt_or_messages, str)
            else list(prompt_or_messages)
        )
        if not strict:
            messages = [schema_instruction(schema), *messages]
        return messages, response_format(schema, strict)
