"""The call protocol, written once: every kind of call (chat, vision, OCR, embeddings, image
generation, structured output, and the opening of a stream) goes through ``call_steps``.

    resolve the alias -> check the capability -> (prepare: fetch the image) -> cache lookup
    -> (build the request) -> reserve the budget -> hooks' waits -> send through the Router
    -> read the response / on failure: release the reservation and translate the error
    -> emit the one ``llm.call`` event -> settle the reservation -> remember in the cache

The protocol is "sans-I/O": ``call_steps`` is a generator that never waits. Where it has to wait
(the Router, an image download, decoding an image, a rate-limit pause) it yields an ``Effect``; the
sync runner ``drive`` does the effect in place, the async runner ``adrive`` awaits its async form.
So sync and async share every step but the one that waits, and a bug fixed here is fixed for both.

A kind (``Job``) supplies only what differs: how to prepare (and key the cache), how to build the
request, how to estimate its worst-case cost, and how to read the response. Code that must see every
call hooks in through ``llmcfg.calls.hooks`` (tracing spans, rate-limit waits).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from llmcfg.results import CallResult

if TYPE_CHECKING:
    from llmcfg.calls.core import Call, CallCore
    from llmcfg.config.aliases import AliasInfo

__all__ = [
    "Effect",
    "Either",
    "Job",
    "Nested",
    "Offload",
    "Pause",
    "Send",
    "Steps",
    "adrive",
    "call_steps",
    "drive",
    "send_steps",
]

T = TypeVar("T")
R = TypeVar("R", bound=CallResult)


class Effect:
    """Something the protocol waits for: done in place by ``drive``, awaited by ``adrive``."""

    def run(self) -> Any:
        raise NotImplementedError

    async def arun(self) -> Any:
        raise NotImplementedError


Steps = Generator[Effect, Any, T]


class Send(Effect):
    """One Router method: ``completion`` (sync) or ``acompletion`` (async), and so on."""

    __slots__ = ("kwargs", "method", "router")

    def __init__(self, router: Any, method: str, kwargs: dict[str, Any]) -> None:
        self.router, self.method, self.kwargs = router, method, kwargs

    def run(self) -> Any:
        return getattr(self.router, self.method)(**self.kwargs)

    async def arun(self) -> Any:
        return await getattr(self.router, "a" + self.method)(**self.kwargs)


class Offload(Effect):
    """CPU work (decoding, resizing): in place when sync, in a worker thread when async, so the event
    loop keeps serving while an image is prepared."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def run(self) -> Any:
        return self.fn(*self.args)

    async def arun(self) -> Any:
        return await asyncio.to_thread(self.fn, *self.args)


class Either(Effect):
    """Work that has its own sync and async forms (the image fetcher's ``fetch`` and ``afetch``)."""

    __slots__ = ("async_form", "sync_form")

    def __init__(self, sync_form: Callable[[], Any], async_form: Callable[[], Awaitable[Any]]) -> None:
        self.sync_form, self.async_form = sync_form, async_form

    def run(self) -> Any:
        return self.sync_form()

    async def arun(self) -> Any:
        return await self.async_form()


class Pause(Effect):
    """A wait asked for by a hook (a client-side rate limit)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self) -> None:
        time.sleep(self.seconds)

    async def arun(self) -> None:
        await asyncio.sleep(self.seconds)


class Nested(Effect):
    """Another protocol run to its end (structured output makes one chat call per attempt)."""

    __slots__ = ("steps",)

    def __init__(self, steps: Steps[Any]) -> None:
        self.steps = steps

    def run(self) -> Any:
        return drive(self.steps)

    async def arun(self) -> Any:
        return await adrive(self.steps)


def drive(steps: Steps[T]) -> T:
    """Run the protocol, waiting in place."""
    try:
        effect = next(steps)
        while True:
            try:
                outcome, failure = effect.run(), None
            except BaseException as error:  # the protocol decides: release, translate, re-raise
                failure = error
            # Outside the except clause: the raised error must not carry the raw one as __context__.
            effect = steps.send(outcome) if failure is None else steps.throw(failure)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(steps: Steps[T]) -> T:
    """Run the protocol, awaiting each wait."""
    try:
        effect = next(steps)
        while True:
            try:
                outcome, failure = await effect.arun(), None
            except BaseException as error:  # cancellation too: the reservation is released
                failure = error
            effect = steps.send(outcome) if failure is None else steps.throw(failure)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class Job(Generic[R]):
    """What one kind of call supplies; everything else is the protocol's.

    ``kind`` names the call in events and budgets, ``preset`` is where ``quality=`` looks
    (``presets.<preset>.<quality>``), ``method`` the Router method (the async runner awaits
    ``"a" + method``), ``result_type`` what a cache hit is read back as.
    """

    kind: ClassVar[str]
    preset: ClassVar[str]
    method: ClassVar[str] = "completion"
    result_type: type[R]

    def __init__(self, quality: str | None, model: str | None, cache: bool | None) -> None:
        self.quality, self.model, self.cache = quality, model, cache

    def prepare(self, call: Call) -> Steps[str | None]:
        """Checks and inputs needed before the cache lookup; returns the cache key (None: not cached).
        Errors raised here (an LLMCfgError) still get the call's event."""
        yield from ()
        return None

    def hit(self, result: R) -> R:
        """A cached result, ready to hand back."""
        return result

    def build(self, call: Call) -> Steps[dict[str, Any]]:
        """The Router arguments besides ``model`` (``messages``, ``input``, ``prompt``, params...)."""
        raise NotImplementedError

    def estimate(self, info: AliasInfo) -> float:
        """Worst-case USD of this request on ``info`` (the budget reserves the max over the chain)."""
        raise NotImplementedError

    def read(self, call: Call, response: Any) -> R:
        """The result of a response (the protocol emits its event)."""
        raise NotImplementedError

    def event_extra(self, result: R) -> dict[str, Any] | None:
        """Fields this kind adds to its ``llm.call`` event."""
        return None


def send_steps(core: CallCore, call: Call, method: str, kwargs: dict[str, Any]) -> Steps[Any]:
    """The hooks' waits, then the request, to the alias the call has now (a budget may have moved it)."""
    for hook in core.hooks:
        seconds = hook.before_send(call)
        if seconds > 0:
            yield Pause(seconds)
    arguments = {"model": call.info.alias, **core._params(call, kwargs)}
    return (yield Send(core._runtime.router, method, arguments))


def call_steps(core: CallCore, job: Job[R]) -> Steps[R]:
    """The protocol of one call. Exactly one ``llm.call`` event, whatever happens; a reservation is
    settled on success and released on any failure, cancellation included."""
    call = core._start(job.kind, job.preset, job.quality, job.model)
    with core._failing(call):
        key = yield from job.prepare(call)
        hit = core._cached(call, key, job.result_type)
        if hit is not None:
            return job.hit(hit)
        kwargs = yield from job.build(call)
    reservation = failure = None
    try:
        reservation = yield from core._reserve_steps(call, job.estimate)
        response = yield from send_steps(core, call, job.method, kwargs)
        result = job.read(call, response)
    except BaseException as error:
        if not isinstance(error, Exception):  # cancelled or interrupted: recorded, raised as it is
            drive(core._release(reservation))  # in place: a cancelled task must not wait again
            core._interrupted(call, error)
            raise
        failure = error
    if failure is not None:  # recorded and raised outside the except clause: no raw error as __context__
        try:
            failed = core._fail(call, failure)
        finally:  # a hook or log processor that raises must not keep the failed call's reservation
            yield from core._release(reservation)
        raise failed
    try:
        core._result_event(call, result, job.event_extra(result))
    finally:  # a hook or log processor that raises must not leave the paid call unsettled
        yield from core._settle(reservation, result)
    return core._remember(key, result)
