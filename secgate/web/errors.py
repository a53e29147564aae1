"""API errors: raised by handlers and helpers, turned into JSON by one middleware.

Every error answer is `{"code": "<stable_code>", "description": "<for humans>"}`
(plus `request_id`), never a stack trace. Codes are part of the public interface:
add new ones, never rename.

An exception nobody turned into an answer is either a store failure
(`secgate.web.store_failures`: the database or the hot state did not answer), 503
`store_unavailable` with one ERROR line in the log, or a bug, 500 `internal_error`
with its stack in the log. No `Retry-After` on the 503: when the store comes back is
not known (the gateway gives one only where the end of a refusal is known).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from secgate import appkeys
from secgate.web.store_failures import StoreFailure, store_failure

log = logging.getLogger("secgate.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's own HTTP exceptions, by status, mapped to our stable codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "unavailable",
}

STORE_UNAVAILABLE = "store_unavailable"
STORE_UNAVAILABLE_DESCRIPTION = "a store of the gateway does not answer; try again later"


class ApiError(Exception):
    """An answer other than success, with a stable code. Raise it from handlers or from
    the request helpers; the middleware renders it."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.headers = headers or {}
        self.extra = extra or {}


def error_response(
    status: int,
    code: str,
    description: str,
    *,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "description": description, **(extra or {})}
    if request_id:
        body["request_id"] = request_id
    return web.Response(
        status=status,
        # ASCII output (non-ASCII as \u escapes) always encodes, even when a description
        # quotes hostile input such as a lone surrogate.
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.get(appkeys.REQUEST_ID)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(
            exc.status,
            exc.code,
            exc.description,
            request_id=request_id,
            headers=exc.headers,
            extra=exc.extra,
        )
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through untouched
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, code, exc.reason, request_id=request_id, headers=headers)
    except Exception as exc:
        failure = store_failure(exc)
        if failure is not None:
            log_store_failure(request, failure)
            return error_response(
                503, STORE_UNAVAILABLE, STORE_UNAVAILABLE_DESCRIPTION, request_id=request_id
            )
        # The details go to the log, with the request id, and never to the client.
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(
            500,
            "internal_error",
            "internal error; quote the request id to support",
            request_id=request_id,
        )


def log_store_failure(request: web.Request, failure: StoreFailure) -> None:
    """One ERROR line (the request id comes from the request's context): which store,
    and the driver's words. No stack, which says nothing an operator needs here, and
    nothing of the request but its path."""
    log.error(
        "store unavailable",
        extra={"path": request.path, "store": failure.store, "error": failure.reason},
    )
