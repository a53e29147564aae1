"""Reading a JSON request body into a typed model, with a clear 400 for anything else."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from secgate.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object. Size is capped by the application's `client_max_size`
    (413 `body_too_large` beyond it)."""
    declared = request.content_length
    if declared is not None and declared > request.client_max_size:
        # Refuse before reading: no point receiving a body we will not take.
        raise ApiError(
            413,
            "body_too_large",
            f"the body is over the limit of {request.client_max_size} bytes",
        )
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "empty_body", "a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body nests too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    if not _is_storable_text(value):
        raise ApiError(
            400,
            "invalid_text",
            "strings may not contain NUL characters or unpaired surrogates (\\ud800-\\udfff)",
        )
    return value


async def read_model(request: web.Request, model: type[M]) -> M:
    """The body validated against `model`; wrong or missing fields give 400 `invalid_field`."""
    data = await read_json_object(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0]
        raise ApiError(
            400,
            "invalid_field",
            f"{first['field']}: {first['problem']}",
            extra={"fields": problems},
        ) from None


def _is_storable_text(value: object) -> bool:
    """False when a string (or key) holds what JSON escapes allow but text stores do not:
    NUL (PostgreSQL rejects it) or a lone surrogate such as `"\\ud800"` (not encodable
    as UTF-8). Iterative: JSON nesting as deep as the parser allows must not overflow."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\0" in item or not _encodes_as_utf8(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> object:
    # NaN and Infinity are not JSON, whatever Python's parser allows by default.
    raise ValueError(f"{name} is not allowed in JSON")
