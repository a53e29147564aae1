"""What a logger writes, formatted as in production (secgate.ops.jsonlog), parsed back:
for tests that check what goes to the log and what must not."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from secgate.ops.jsonlog import json_log_handler

Lines = Callable[[], list[dict[str, Any]]]


@contextmanager
def captured_json_logs(logger_name: str, level: int | None = None) -> Iterator[Lines]:
    """Within the block, every record of the logger `logger_name` (and its children)
    is also written as a JSON line; the callable returns the lines so far, parsed.
    `level`: the logger's level meanwhile (None: as it is)."""
    stream = io.StringIO()
    handler = json_log_handler(stream)
    logger = logging.getLogger(logger_name)
    previous_level = logger.level
    logger.addHandler(handler)
    if level is not None:
        logger.setLevel(level)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
