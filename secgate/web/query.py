"""Reading a query string into a pydantic model, with the API's 400 `invalid_query`."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from secgate.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def read_query(request: web.Request, model: type[M]) -> M:
    """The model's fields from the query; an empty value is absent, a repeated one is
    refused (which of two values was meant is not for us to guess)."""
    values: dict[str, Any] = {}
    for name in model.model_fields:
        given = request.query.getall(name, [])
        if len(given) > 1:
            raise invalid_query(name, "given more than once")
        if given and given[0] != "":
            values[name] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        raise invalid_query(".".join(str(p) for p in error["loc"]), error["msg"]) from None


def invalid_query(field: str, problem: str) -> ApiError:
    return ApiError(
        400,
        "invalid_query",
        f"{field}: {problem}",
        extra={"fields": [{"field": field, "problem": problem}]},
    )
