"""Which cache backend a config asks for: the disk cache (``cache.dir``) or Redis (``cache.store:
redis``). Both have the same methods and semantics; callers never need to know which one they hold."""

from __future__ import annotations

from typing import TypeAlias

from llmcfg.cache.redis_store import RedisCaches
from llmcfg.cache.store import Caches
from llmcfg.config import envrefs
from llmcfg.config.schema import Config

__all__ = ["AnyCaches", "open_caches"]

AnyCaches: TypeAlias = Caches | RedisCaches  # what a caller may hold; same methods


def open_caches(config: Config) -> AnyCaches:
    """The caches ``config.cache`` describes (a Redis URL's ``${VAR}`` is read now)."""
    settings = config.cache
    if settings.store == "redis" and settings.redis_url:
        return RedisCaches(
            envrefs.resolve(settings.redis_url, provider="cache.redis_url"),
            image_ttl_s=settings.image_ttl_s,
            response_ttl_s=settings.response_ttl_s,
        )
    return Caches(
        config.resolve_path(settings.dir),
        image_ttl_s=settings.image_ttl_s,
        response_ttl_s=settings.response_ttl_s,
    )
