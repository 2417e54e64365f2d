"""Helpers for the fetcher's tests: one policy builder, and the two drivers (``fetch`` and
``afetch``) that every behaviour is checked through, so neither runner can drift."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from llmcfg.images.fetch import FetchedImage, ImageFetcher

__all__ = ["DRIVERS", "Driver", "fetcher", "resolve_to"]

LOOPBACK_ONLY = ["127.0.0.1/32"]
Driver = Callable[[ImageFetcher, str], FetchedImage]


def fetcher(**settings: object) -> ImageFetcher:
    """A fetcher that may reach the fake on 127.0.0.1 over http, and nothing else private."""
    options: dict[str, object] = {"allow_http": True, "allow_private_networks": LOOPBACK_ONLY, "timeout_s": 5}
    options.update(settings)
    return ImageFetcher(**options)  # type: ignore[arg-type]


def _sync(policy: ImageFetcher, url: str) -> FetchedImage:
    return policy.fetch(url)


def _async(policy: ImageFetcher, url: str) -> FetchedImage:
    return asyncio.run(policy.afetch(url))


DRIVERS = [pytest.param(_sync, id="fetch"), pytest.param(_async, id="afetch")]


def resolve_to(monkeypatch: pytest.MonkeyPatch, host: str, *answers: list[str]) -> list[str]:
    """Make ``host`` resolve to several addresses at once (a DNS answer with more than one record);
    with more than one answer list, each lookup gets the next (a rebinding name server).
    Returns the log of lookups of ``host``."""
    guarded = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(name: object, port: object, *args: object, **kwargs: object) -> object:
        if name != host:
            return guarded(name, port, *args, **kwargs)  # type: ignore[arg-type]
        addresses = answers[min(len(lookups), len(answers) - 1)]
        lookups.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups
