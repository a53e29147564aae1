"""The contacts API: import into a contact group, read a group back.

- `POST /api/v1/contacts/groups/{name}/import?username=U` with a CSV body (`text/csv`
  or `text/plain`; the format is in secgate.sms.contacts) or a JSON one
  (`{"contacts": [{"name": "Ali", "number": "+965 5000 0001"}, …]}`) answers the
  import report: `{"group", "added", "duplicates", "rejected": [{"line", "raw",
  "reason"}]}`. The group is created if new. Rejected rows do not fail the import.
- `GET /api/v1/contacts/groups/{name}?username=U` answers `{"group", "count",
  "contacts": [{"name", "number"}]}`.

Who may call: a staff or pipeline token, acting for the account named by `?username=`.
A customer's browser session (once logins exist, CONTRACT §4.2) acts for its own
account only, and `?username=` is then ignored.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from secgate import appkeys
from secgate.accounts.registry import find_account
from secgate.auth.principal import require_role
from secgate.sms import contacts
from secgate.web.errors import ApiError
from secgate.web.json_body import read_model

GROUP_PATH = "/api/v1/contacts/groups/{name}"
IMPORT_PATH = GROUP_PATH + "/import"
_CSV_TYPES = frozenset({"text/csv", "text/plain"})


class ContactItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Length and content are checked row by row, so that one bad row is reported
    # rather than refusing the whole request.
    name: StrictStr = ""
    number: StrictStr | StrictInt


class ContactList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contacts: list[ContactItem] = Field(max_length=contacts.MAX_IMPORT_LINES)


def setup_routes(app: web.Application) -> None:
    app.router.add_post(IMPORT_PATH, import_contacts)
    app.router.add_get(GROUP_PATH, show_group)


async def import_contacts(request: web.Request) -> web.Response:
    account_id = await _acting_account(request)
    rows, problems = await _read_rows(request)
    async with request.app[appkeys.DB_SESSIONS]() as session, session.begin():
        try:
            report = await contacts.import_rows(
                session,
                account_id,
                request.match_info["name"],
                rows,
                max_group_numbers=request.app[appkeys.SETTINGS].max_group_send_numbers,
                problems=problems,
            )
        except contacts.ContactsError as exc:
            raise _contacts_error(exc) from None
    return web.json_response(report.to_json())


async def show_group(request: web.Request) -> web.Response:
    account_id = await _acting_account(request)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        try:
            members = await contacts.group_contacts(session, account_id, request.match_info["name"])
        except contacts.ContactsError as exc:
            raise _contacts_error(exc) from None
    return web.json_response(
        {
            "group": request.match_info["name"].strip(),
            "count": len(members),
            "contacts": [{"name": c.name, "number": c.number} for c in members],
        }
    )


async def _acting_account(request: web.Request) -> int:
    principal = await require_role(request, "staff", "pipeline", "customer")
    if principal.role == "customer" and principal.account_id is not None:
        return principal.account_id
    username = request.query.get("username", "")
    if not username:
        raise ApiError(
            400,
            "invalid_query",
            "username: required (the account to act for)",
            extra={"fields": [{"field": "username", "problem": "required"}]},
        )
    async with request.app[appkeys.DB_SESSIONS]() as session:
        account = await find_account(session, username)
    if account is None:
        raise ApiError(404, "account_not_found", f"no account named {username!r}")
    return account.id


async def _read_rows(
    request: web.Request,
) -> tuple[list[contacts.ContactRow], list[contacts.RowProblem]]:
    if request.content_type in _CSV_TYPES:
        data = await request.read()
        if not data.strip():
            raise ApiError(400, "empty_body", "the body is empty: send the CSV file")
        try:
            return await asyncio.to_thread(contacts.parse_csv, data)
        except contacts.ContactsError as exc:
            raise _contacts_error(exc) from None
    if request.content_type == "application/json":
        return _json_rows(await read_model(request, ContactList)), []
    raise ApiError(
        415, "unsupported_media_type", "send text/csv (or text/plain), or application/json"
    )


def _json_rows(body: ContactList) -> list[contacts.ContactRow]:
    return [
        contacts.ContactRow(
            line=position,
            raw=json.dumps(item.model_dump(), ensure_ascii=False),
            name=item.name.strip(),
            number=str(item.number),
        )
        for position, item in enumerate(body.contacts, start=1)
    ]


def _contacts_error(exc: contacts.ContactsError) -> ApiError:
    if isinstance(exc, contacts.GroupNotFound):
        return ApiError(404, "group_not_found", str(exc))
    if isinstance(exc, contacts.InvalidGroupName):
        return ApiError(400, "invalid_group_name", str(exc))
    return ApiError(400, "invalid_import", str(exc))
