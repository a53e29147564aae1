"""What every request carries from the start: its id and its client's address.

The outermost middleware sets `request[appkeys.REQUEST_ID]` and `request[appkeys.CLIENT_IP]`,
makes the id visible to logging through `current_request_id`, and answers it in the
`X-Request-ID` header, error answers included.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import web

from secgate import appkeys
from secgate.web.client_address import client_ip

REQUEST_ID_HEADER = "X-Request-ID"

# An id from the caller (e.g. the proxy in front) is kept so that logs line up across
# systems, but only in a shape that is harmless in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

current_request_id: ContextVar[str | None] = ContextVar("secgate_request_id", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new random id."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    request[appkeys.REQUEST_ID] = request_id
    request[appkeys.CLIENT_IP] = client_ip(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.app[appkeys.SETTINGS].trusted_proxies,
    )
    token = current_request_id.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # Only redirects get past the error middleware as exceptions.
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        current_request_id.reset(token)
    # A handler that streams has sent its headers already.
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
