"""A dispatcher in a process of its own, for test_dispatcher.py to kill mid-batch:

    python tests/sms/dispatcher_process.py REDIS_NAMESPACE

Settings come from the environment (SECGATE_*) as for `python -m secgate.sms.dispatcher`;
the hot state is SECGATE_REDIS_URL under the test's own namespace, so that the test's
queue is the only one this process sees.
"""

from __future__ import annotations

import asyncio
import sys

from secgate.hotstate.redis import RedisHotState
from secgate.settings import Settings
from secgate.sms.dispatcher import serve


async def run(namespace: str) -> None:
    settings = Settings.from_env()
    assert settings.redis_url, "SECGATE_REDIS_URL must be set"
    hot = RedisHotState.from_url(
        settings.redis_url,
        namespace=namespace,
        redelivery_after_s=settings.queue_redelivery_after_s,
    )
    await serve(settings, hot=hot)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1]))
