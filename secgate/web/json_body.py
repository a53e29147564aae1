"""Reading a JSON request body into a typed model, with a clear 400 for anything else."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from secgate.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object. Size is already capped by the application's
    `client_max_size` (413 `body_too_large` beyond it)."""
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "empty_body", "a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body nests too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
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
            400, "invalid_field", f"{first['field']}: {first['problem']}",
            extra={"fields": problems},
        ) from None


def _reject_constant(name: str) -> object:
    # NaN and Infinity are not JSON, whatever Python's parser allows by default.
    raise ValueError(f"{name} is not allowed in JSON")
