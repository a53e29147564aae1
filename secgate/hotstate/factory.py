"""Choosing the hot-state implementation from the settings."""

from __future__ import annotations

from secgate.hotstate.protocol import HotState
from secgate.settings import Settings


async def open_hot_state(settings: Settings) -> HotState:
    """Redis when SECGATE_REDIS_URL is set (several processes), else in-process."""
    if settings.redis_url:
        from secgate.hotstate.redis import RedisHotState

        return RedisHotState.from_url(
            settings.redis_url,
            namespace=settings.redis_namespace,
            redelivery_after_s=settings.queue_redelivery_after_s,
        )
    from secgate.hotstate.memory import MemoryHotState

    return MemoryHotState(
        namespace=settings.redis_namespace, redelivery_after_s=settings.queue_redelivery_after_s
    )
