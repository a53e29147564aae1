"""Who is calling: a bearer token now, a browser session later (CONTRACT §4).

Every request is authenticated afresh. A token that verified is remembered for
`api_token_cache_s` (secgate.auth.tokens.TokenVerifier), and forgotten when it is
revoked, so a revoked token stops working on its next use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from aiohttp import hdrs, web

from secgate import appkeys
from secgate.web.errors import ApiError

# Far above a real token (47 characters); anything longer is not worth parsing.
MAX_AUTHORIZATION_CHARS = 256
# RFC 6750 §2.1: the scheme is case-insensitive; we also tolerate extra spaces and tabs.
_BEARER = re.compile(r"[ \t]*bearer[ \t]+([!-~]+)[ \t]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["token", "session"]
    # "staff" or "pipeline" for tokens; "customer" or "staff" for sessions.
    role: str
    # Shown in logs and alert notes: the token's name, or the account's username.
    name: str
    account_id: int | None = None
    token_id: int | None = None


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer …` header; None for any other header."""
    if authorization is None or len(authorization) > MAX_AUTHORIZATION_CHARS:
        return None
    match = _BEARER.fullmatch(authorization)
    return match.group(1) if match else None


async def authenticate(request: web.Request) -> Principal | None:
    """The caller, or None when the request carries no valid credentials."""
    authorization = request.headers.get(hdrs.AUTHORIZATION)
    if authorization is not None:
        # A request that presents a header stands or falls by it: a bad token is not
        # rescued by a cookie sent along with it.
        token = bearer_token(authorization)
        return await _token_principal(request, token) if token else None
    # Hook: the browser session cookie (CONTRACT §4.2) is checked here once login
    # sessions exist; it will give Principal(kind="session", account_id=…).
    return None


async def require_role(request: web.Request, *roles: str) -> Principal:
    """The caller, if authenticated with one of `roles`; else 401 or 403."""
    principal = await authenticate(request)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "authentication required: send Authorization: Bearer <token>",
            headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
        )
    if principal.role not in roles:
        raise ApiError(403, "forbidden", "your credentials do not allow this request")
    return principal


async def _token_principal(request: web.Request, token: str) -> Principal | None:
    verified = await request.app[appkeys.TOKENS].verify(token)
    if verified is None:
        return None
    return Principal(
        kind="token",
        role=verified.role.value,
        name=verified.name or f"token {verified.id}",
        token_id=verified.id,
    )
