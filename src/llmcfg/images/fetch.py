"""Download images without becoming a proxy into the private network (SSRF).

The protocol lives once, without I/O, in fetch_steps.py: each hop (the first URL and every
redirect) is checked the same way -- scheme, user info, the domain whitelist, then every address
the name resolves to must pass llmcfg's own deny table (addresses.py). The connection goes to the
address that was checked, never to a second lookup, so DNS rebinding cannot slip through; TLS
still verifies the hostname (SNI). Bodies are decoded as they stream and cut at the size cap;
``timeout_s`` is one deadline for the whole fetch. Here are only the two runners that do the
waiting (``fetch`` with httpx.Client, ``afetch`` with httpx.AsyncClient) and the one place that
turns every failure into an ImageFetchError subclass plus an ``image.fetch_refused`` event.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
import structlog

from llmcfg.exceptions import ForbiddenHostError, ImageFetchError
from llmcfg.images.addresses import check_address
from llmcfg.images.decode import DEFAULT_MAX_PIXELS
from llmcfg.images.fetch_steps import (
    Driver,
    FetchedImage,
    Policy,
    Resolve,
    Send,
    Step,
    check_steps,
    fetch_steps,
    shown_text,
    shown_url,
)

__all__ = ["FetchedImage", "ImageFetcher", "check_address"]

_logger = structlog.get_logger("llmcfg")
_T = TypeVar("_T")
_S = TypeVar("_S")


def _addresses(infos: list[Any]) -> list[str]:
    return [str(info[4][0]) for info in infos]


def _lookup(host: str, port: int) -> concurrent.futures.Future[list[str]]:
    """getaddrinfo in a daemon thread of its own, so each runner waits for it only until the
    deadline: a name server that answers slowly (an attacker's own domain can) cannot hold a fetch,
    and neither interpreter exit nor ``asyncio.run`` waits for a lookup that was given up."""
    future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()

    def resolve() -> None:
        if not future.set_running_or_notify_cancel():  # given up (the async runner cancelled it)
            return
        try:
            future.set_result(_addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except BaseException as error:  # handed to the waiting runner
            future.set_exception(error)

    threading.Thread(target=resolve, name="llmcfg-fetch-lookup", daemon=True).start()
    return future


def _host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _timed_out(policy: Policy) -> ImageFetchError:
    """The deadline's own message when it has passed, else httpx's per-step timeout."""
    try:
        policy.remaining()
    except ImageFetchError as late:
        return late
    return ImageFetchError(f"download timed out (fetch.timeout_s: {policy.timeout_s:g} s)")


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait is cut at the fetch's deadline: a server that sends part of a
    body and then stalls cannot hold a synchronous fetch past ``timeout_s``. httpx's own timeout
    (the ``timeout`` passed in) is the time left when the hop started, so the time left now is
    never longer: it is the one limit used."""

    def __init__(self, inner: httpcore.NetworkStream, policy: Policy) -> None:
        self._inner, self._policy = inner, policy

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._policy.remaining())

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._policy.remaining())

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        secured = self._inner.start_tls(ssl_context, server_hostname, self._policy.remaining())
        return _DeadlineStream(secured, self._policy)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, policy: Policy) -> None:
        self._inner, self._policy = inner, policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self._policy.remaining(), local_address, socket_options)
        return _DeadlineStream(stream, self._policy)


def _deadline_transport(policy: Policy) -> httpx.HTTPTransport:
    """httpx's own transport, with its connections cut at the deadline. httpx has no public hook
    for the network backend, so it is swapped on the pool; if a future httpx moves it, the fetch
    still works, with the deadline checked between reads only."""
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(backend, policy)  # type: ignore[union-attr]
    return transport


async def _within(step: Awaitable[_S], seconds: float) -> _S:
    """``asyncio.wait_for``, without losing a cancel. Before Python 3.12, ``wait_for`` returns the
    step's result and drops a ``task.cancel()`` that lands in the loop turn the step completes: the
    fetch would go on and the call be sent (and charged) after its caller cancelled it. The cancel
    is still counted on the task (3.11: ``Task.cancelling``), so it is raised here. Python 3.10 has
    no such count: the race stays there."""
    result = await asyncio.wait_for(step, seconds)
    task = asyncio.current_task()
    if task is not None and getattr(task, "cancelling", lambda: 0)():
        raise asyncio.CancelledError
    return result


class ImageFetcher:
    """Fetch images by URL under a policy (the ``fetch`` section of the config, as keywords).

    ``transport``/``async_transport`` are the test seams (httpx transports). ``local_files`` is
    read by the image intake (a string is never opened as a file when it is False).
    """

    def __init__(
        self,
        *,
        allowed_domains: Iterable[str] = (),
        allow_http: bool = False,
        allow_private_networks: bool | Iterable[str] = False,
        max_size_mb: float = 10.0,
        timeout_s: float = 30.0,
        max_redirects: int = 3,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        local_files: bool = True,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed_domains = [d.lower() for d in allowed_domains]
        self.allow_http = allow_http
        if allow_private_networks is True:
            networks = ["0.0.0.0/0", "::/0"]
        elif allow_private_networks is False:
            networks = []
        else:
            networks = list(allow_private_networks)
        self.allowed_networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.max_bytes = int(max_size_mb * 1024 * 1024)
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.max_pixels = max_pixels
        self.local_files = local_files
        self._transport = transport
        self._async_transport = async_transport

    def _policy(self) -> Policy:
        """A fresh policy (settings plus this fetch's deadline) for each fetch."""
        return Policy(
            self.allowed_domains,
            self.allow_http,
            self.allowed_networks,
            self.max_bytes,
            self.timeout_s,
            self.max_redirects,
        )

    @contextlib.contextmanager
    def _refusals(self, policy: Policy) -> Iterator[None]:
        """Every way a fetch can fail, as an ImageFetchError subclass with the reason, logged once."""
        try:
            yield
        except ImageFetchError as refusal:
            raise self.refused(policy.url, refusal) from None
        except socket.gaierror:
            unresolved = ImageFetchError(f"host {_host_of(policy.url)!r} did not resolve")
            raise self.refused(policy.url, unresolved) from None
        except (httpx.TimeoutException, asyncio.TimeoutError, concurrent.futures.TimeoutError, TimeoutError):
            raise self.refused(policy.url, _timed_out(policy)) from None
        except (httpx.InvalidURL, ValueError) as invalid:
            invalid_url = ForbiddenHostError(f"not a valid URL ({shown_text(str(invalid))})")
            raise self.refused(policy.url, invalid_url) from None
        except httpx.HTTPError as failure:
            # Not chained: httpx's error holds the request, whose URL carries the query string.
            why = shown_text(str(failure))
            failed = ImageFetchError(
                f"download failed: {type(failure).__name__}" + (f": {why}" if why else "")
            )
            raise self.refused(policy.url, failed) from None

    def refused(self, url: str, error: ImageFetchError) -> ImageFetchError:
        """``error``, logged as the one ``image.fetch_refused`` event of a refusal of ``url``."""
        _logger.warning(
            "image.fetch_refused",
            url=shown_url(url),
            host=_host_of(url),
            error=type(error).__name__,
            reason=str(error),
        )
        return error

    # -- the runners: the only code that waits (the client is made only when a hop is sent) ------
    def _run(self, steps: Generator[Step, Any, _T], policy: Policy) -> _T:
        with self._refusals(policy), contextlib.ExitStack() as stack:
            hop = stack.enter_context(contextlib.ExitStack())  # the current response
            client: httpx.Client | None = None
            chunks: Iterator[bytes] = iter(())
            driver = Driver(steps)
            while (step := driver.next()) is not None:
                if isinstance(step, Resolve):
                    driver.reply = _lookup(step.host, step.port).result(policy.remaining())
                elif isinstance(step, Send):
                    hop.close()
                    if client is None:
                        transport = self._transport or _deadline_transport(policy)
                        client = stack.enter_context(httpx.Client(transport=transport, trust_env=False))
                    request = client.stream("GET", step.url, timeout=policy.remaining(), **step.options)
                    driver.reply = hop.enter_context(request)
                    chunks = driver.reply.iter_raw()
                else:
                    driver.reply = next(chunks, b"")
            return driver.result

    async def _arun(self, steps: Generator[Step, Any, _T], policy: Policy) -> _T:
        """``_run``'s twin for asyncio: each wait is also bounded by the time left."""
        with self._refusals(policy):
            async with contextlib.AsyncExitStack() as stack:
                hop = await stack.enter_async_context(contextlib.AsyncExitStack())
                client: httpx.AsyncClient | None = None
                chunks: AsyncIterator[bytes] | None = None
                driver = Driver(steps)
                while (step := driver.next()) is not None:
                    if isinstance(step, Resolve):
                        lookup = asyncio.wrap_future(_lookup(step.host, step.port))
                        driver.reply = await _within(lookup, policy.remaining())
                    elif isinstance(step, Send):
                        await hop.aclose()
                        if client is None:
                            transport = self._async_transport or httpx.AsyncHTTPTransport()
                            opened = httpx.AsyncClient(transport=transport, trust_env=False)
                            client = await stack.enter_async_context(opened)
                        request = client.stream("GET", step.url, timeout=policy.remaining(), **step.options)
                        response = await _within(hop.enter_async_context(request), policy.remaining())
                        driver.reply, chunks = response, response.aiter_raw()
                    else:
                        assert chunks is not None  # the steps ask for the body only after a response
                        driver.reply = await _within(anext(chunks, b""), policy.remaining())
                return driver.result

    # -- public -----------------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchedImage:
        """Download an image; ImageFetchError subclasses say why not."""
        policy = self._policy()
        return self._run(fetch_steps(url, policy), policy)

    async def afetch(self, url: str) -> FetchedImage:
        """``fetch``, awaited: the same steps, driven by the async runner."""
        policy = self._policy()
        return await self._arun(fetch_steps(url, policy), policy)

    def check(self, url: str) -> None:
        """Refuse ``url`` if the policy would not fetch it now (URL and every resolved address),
        without downloading: a cached copy must pass this before it is served."""
        policy = self._policy()
        self._run(check_steps(url, policy), policy)

    async def acheck(self, url: str) -> None:
        """``check``, awaited."""
        policy = self._policy()
        await self._arun(check_steps(url, policy), policy)

    def fetch_data_url(self, url: str) -> str:
        fetched = self.fetch(url)
        return f"data:{fetched.content_type};base64,{base64.b64encode(fetched.data).decode()}"
