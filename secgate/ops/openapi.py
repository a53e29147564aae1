"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every JSON endpoint.

The document is written here by hand, next to nothing else, so that it reads as the
API's reference. `tests/ops/test_openapi.py` fails when a route of the application is
missing from it: an endpoint is not done until it is described here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from secgate.accounts.registry import USERNAME_MAX_CHARS
from secgate.alerts import store as alert_store
from secgate.checks import held_message_routes, held_messages, protected_sender_routes
from secgate.checks import routes as check_routes
from secgate.sms import contacts, contacts_routes, delivery_log, sandbox_routes
from secgate.storage.models import AlertSeverity, AlertStatus

OPENAPI_PATH = "/api/openapi.json"

_JSON = "application/json"

# A username given in a query to filter by: printable text (the routes' query models
# refuse control characters, which would otherwise reach the database).
_USERNAME_FILTER = {
    "type": "string",
    "maxLength": USERNAME_MAX_CHARS,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {_JSON: {"schema": schema}}


def _error_responses(*statuses: int) -> dict[str, Any]:
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        413: "BodyTooLarge",
        503: "StoreUnavailable",
    }
    return {str(status): _ref("responses", names[status]) for status in statuses}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("schemas", "Error"))}


_ALERT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": alert_store.MAX_ALERT_ID},
}

_ALERT_ACTION_BODY = {
    "required": False,
    "content": _json_content(_ref("schemas", "AlertActionBody")),
}


def _alert_action(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["alerts"],
        "security": [{"bearer": []}],
        "parameters": [_ALERT_ID],
        "requestBody": _ALERT_ACTION_BODY,
        "responses": {
            "200": {
                "description": "The alert as it is now.",
                "content": _json_content(_ref("schemas", "Alert")),
            },
            **_error_responses(400, 401, 403, 413, 503),
            "404": _error_response("No such alert (`alert_not_found`)."),
        },
    }


def _query(
    name: str, description: str, schema: dict[str, Any], *, empty_is_absent: bool = True
) -> dict[str, Any]:
    parameter = {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }
    if empty_is_absent:
        # The handlers read `?name=` as if it were not given (secgate.web.query), so an
        # empty value is valid whatever the schema says about the value's type.
        parameter["allowEmptyValue"] = True
    return parameter


# -- the messaging API (/API/*), compatible with kwtSMS's JSON API ----------------------

_FORM = "application/x-www-form-urlencoded"
_MESSAGING_ENDPOINTS = ("send", "balance", "senderid", "coverage", "validate", "report")


def _messaging_errors(extra: dict[int, list[str]]) -> dict[str, Any]:
    """The error answers of one messaging command: each status with the kwtSMS codes
    it carries (those of every command, then the command's own)."""
    common = {
        400: [
            "a parameter missing or of the wrong type, or a body not JSON or not UTF-8 (`ERR002`)"
        ],
        401: ["wrong username or password, the same for a username that does not exist (`ERR003`)"],
        403: [
            "the account is blocked (`ERR005`)",
            "it has no API access (`ERR004`: staff accounts)",
            "its API is disabled (`ERR001`)",
            "the client address is not in its API allowlist (`ERR024`)",
        ],
        413: ["the body is over the size limit (`ERR002`)"],
        503: ["a store of the gateway (its database or hot state) does not answer (`ERR013`)"],
    }
    answers = {}
    for status in sorted(common.keys() | extra.keys()):
        reasons = common.get(status, []) + extra.get(status, [])
        text = "; ".join(reasons)
        answers[str(status)] = _error_response(text[0].upper() + text[1:] + ".")
    return answers


def _messaging_command(
    summary: str, body: str, ok: str, errors: dict[int, list[str]] | None = None
) -> dict[str, Any]:
    schema = _ref("schemas", body)
    return {
        "summary": summary,
        "tags": ["messaging"],
        "description": (
            "Compatible with the kwtSMS JSON API: the `kwtsms` client works unchanged with "
            "its `BASE_URL` set to `http://HOST:PORT/API/`. The account's API username and "
            "password travel in the body; the trailing slash of the path is optional."
        ),
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": schema}, _FORM: {"schema": schema}},
        },
        "responses": {
            "200": {"description": "Done.", "content": _json_content(_ref("schemas", ok))},
            **_messaging_errors(errors or {}),
        },
    }


def _messaging_paths() -> dict[str, Any]:
    commands = {
        "send": _messaging_command(
            "Send an SMS to up to 200 numbers",
            "SendBody",
            "SendResult",
            {
                400: [
                    "no valid number (`ERR006`)",
                    "over 200 numbers (`ERR007`)",
                    "an empty message (`ERR009`)",
                    "over 6 pages (`ERR012`)",
                    "invalid numbers among them, named (`ERR025`)",
                    "HTML in the message (`ERR027`)",
                ],
                402: ["a zero balance (`ERR010`) or one below the points due (`ERR011`)"],
                403: [
                    "the sender ID is not the account's (`ERR008`)",
                    "a number's country is not activated on it (`ERR026`)",
                ],
                429: [
                    "a number was sent to by the account less than 15 seconds ago "
                    "(`ERR028`); `Retry-After` says when to try again"
                ],
                503: [
                    "messages cannot be accepted at the moment (`ERR013`); when the "
                    "account's send rate or a pumping throttle refused it, `Retry-After` "
                    "says when it ends"
                ],
            },
        ),
        "balance": _messaging_command(
            "The account's balance: points available and ever purchased",
            "Credentials",
            "BalanceResult",
        ),
        "senderid": _messaging_command(
            "The sender IDs registered to the account", "Credentials", "SenderIdResult"
        ),
        "coverage": _messaging_command(
            "The calling codes of the countries the account may send to",
            "Credentials",
            "CoverageResult",
            {403: ["no country is activated on the account (`ERR033`)"]},
        ),
        "validate": _messaging_command(
            "Check numbers: valid and routable (OK), invalid (ER), no route (NR)",
            "ValidateBody",
            "ValidateResult",
            {400: ["over 200 numbers (`ERR007`)"]},
        ),
        "report": _messaging_command(
            "The delivery report of a message, number by number",
            "ReportBody",
            "ReportResult",
            {404: ["no message with this msg-id belongs to the account (`ERR020`)"]},
        ),
    }
    paths = {}
    for name in _MESSAGING_ENDPOINTS:
        paths[f"/API/{name}/"] = {"post": commands[name]}
        paths[f"/API/{name}"] = {"post": commands[name]}
    return paths


def _messaging_body(
    required: list[str], properties: dict[str, Any], *, one_of: Sequence[str] = ()
) -> dict[str, Any]:
    """A command's body: the credentials, the `required` fields, and exactly one of the
    fields `one_of` when it names any."""
    body: dict[str, Any] = {
        "type": "object",
        "required": ["username", "password", *required],
        "description": "Other fields are ignored.",
        "properties": {
            "username": {"type": "string", "description": "The API username."},
            "password": {"type": "string", "description": "The API password."},
            **properties,
        },
    }
    if one_of:
        body["oneOf"] = [{"required": [name]} for name in one_of]
    return body


def _ok_result(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["result", *required],
        "properties": {"result": {"const": "OK"}, **properties},
    }


_MOBILE = {
    "description": (
        "Numbers with country code, separated by commas (a JSON list is taken too). "
        "`+`, `00`, spaces, dashes and Arabic-Indic digits are accepted."
    ),
    "oneOf": [
        {"type": "string", "minLength": 1, "examples": ["96598765432,96566666666"]},
        {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}},
        {"type": "integer"},
    ],
}
_NUMBER_LIST = {"type": "array", "items": {"type": "string"}}
_RECIPIENT_STATUSES = list(dict.fromkeys(delivery_log.REPORT_STATUS.values()))


def _messaging_schemas() -> dict[str, Any]:
    return {
        "Credentials": _messaging_body([], {}),
        "SendBody": _messaging_body(
            ["sender", "message"],
            {
                "sender": {
                    "type": "string",
                    "description": "A sender ID registered to the account (case-sensitive), "
                    "or the account's own mobile number.",
                },
                "mobile": _MOBILE,
                "group": {
                    "type": "string",
                    "description": "SecGate's extension, instead of `mobile` (one of the two "
                    "is required, `ERR002` otherwise): the name of one of the account's "
                    "contact groups (see `/api/v1/contacts/groups/{name}/import`); the message "
                    "goes to its numbers, up to `SECGATE_MAX_GROUP_SEND_NUMBERS` of them. An "
                    "unknown group is `ERR002`.",
                },
                "message": {"type": "string"},
                "test": {
                    "description": "1: queue the message without delivering it, charging nothing.",
                    "enum": [0, 1, "0", "1", True, False, "true", "false"],
                    "default": 0,
                },
            },
            # `mobile` or `group`, never both (ERR002 otherwise).
            one_of=["mobile", "group"],
        ),
        "ValidateBody": _messaging_body(["mobile"], {"mobile": _MOBILE}),
        "ReportBody": _messaging_body(
            ["msgid"], {"msgid": {"type": "string", "description": "The send's `msg-id`."}}
        ),
        "SendResult": _ok_result(
            ["msg-id", "numbers", "points-charged", "balance-after", "unix-timestamp"],
            {
                "msg-id": {"type": "string"},
                "numbers": {"type": "integer", "description": "Distinct numbers accepted."},
                "points-charged": {
                    "type": "integer",
                    "description": "Pages times numbers; 0 in test mode.",
                },
                "balance-after": {"type": "integer"},
                "unix-timestamp": {"type": "integer"},
            },
        ),
        "BalanceResult": _ok_result(
            ["available", "purchased"],
            {"available": {"type": "integer"}, "purchased": {"type": "integer"}},
        ),
        "SenderIdResult": _ok_result(["senderid"], {"senderid": _NUMBER_LIST}),
        "CoverageResult": _ok_result(
            ["coverage"], {"coverage": {**_NUMBER_LIST, "examples": [["965", "966"]]}}
        ),
        "ValidateResult": _ok_result(
            ["mobile"],
            {
                "mobile": {
                    "type": "object",
                    "required": ["OK", "ER", "NR"],
                    "properties": {
                        "OK": {**_NUMBER_LIST, "description": "Valid, and routable."},
                        "ER": {**_NUMBER_LIST, "description": "Not valid, as given."},
                        "NR": {
                            **_NUMBER_LIST,
                            "description": "Valid, but the country is not activated.",
                        },
                    },
                }
            },
        ),
        "ReportResult": _ok_result(
            ["msg-id", "status", "numbers", "report"],
            {
                "msg-id": {"type": "string"},
                "status": {
                    "enum": [*_RECIPIENT_STATUSES, "PARTIAL"],
                    "description": "The whole message: QUEUED while any number waits for "
                    "the operator, SUBMITTED while any waits for its receipt, then the "
                    "numbers' common status, or PARTIAL (some delivered) or FAILED (none).",
                },
                "numbers": {"type": "integer"},
                "report": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["mobile", "status", "unix-timestamp", "reason"],
                        "properties": {
                            "mobile": {"type": "string"},
                            "status": {"enum": _RECIPIENT_STATUSES},
                            "unix-timestamp": {
                                "type": "integer",
                                "description": "When the number entered this status.",
                            },
                            "reason": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        ),
    }


# -- the sandbox connector's outbox (routed only while that connector is in use) --------


def _sandbox_paths() -> dict[str, Any]:
    return {
        sandbox_routes.OUTBOX_PATH: {
            "get": {
                "summary": "What the sandbox connector delivered to a number, newest first",
                "tags": ["sandbox"],
                "description": (
                    "Only while the sandbox connector is in use (`SECGATE_CONNECTOR=sandbox`, "
                    "the default); with a real operator the path does not exist (404). "
                    "For testers, e.g. to read a one-time code."
                ),
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "description": "The number, with its country code (`+`, `00`, "
                        "spaces and dashes are accepted).",
                        "schema": {"type": "string", "minLength": 1, "examples": ["96550000000"]},
                    },
                    _query(
                        "limit",
                        "Messages at most.",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": sandbox_routes.MAX_LIMIT,
                            "default": sandbox_routes.DEFAULT_LIMIT,
                        },
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The messages, newest first.",
                        "content": _json_content(_ref("schemas", "SandboxOutbox")),
                    },
                    "400": _error_response(
                        "`to` is missing or not a mobile number, or `limit` is out of range "
                        "(`invalid_query`)."
                    ),
                    **_error_responses(401, 403, 503),
                },
            }
        }
    }


def _sandbox_schemas() -> dict[str, Any]:
    return {
        "SandboxOutbox": {
            "type": "object",
            "required": ["messages"],
            "properties": {
                "messages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "to", "sender", "text", "connector_ref", "at"],
                        "properties": {
                            "id": {"type": "integer"},
                            "to": {"type": "string", "description": "Digits, country code first."},
                            "sender": {"type": "string"},
                            "text": {"type": "string"},
                            "connector_ref": {
                                "type": "string",
                                "description": "The sandbox's message id, as in delivery reports.",
                            },
                            "at": {"type": "string", "format": "date-time"},
                        },
                    },
                }
            },
        }
    }


# -- contact groups -------------------------------------------------------------------

_GROUP_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The group's name (created by the first import into it).",
    "schema": {"type": "string", "minLength": 1, "maxLength": contacts.MAX_GROUP_NAME_CHARS},
}
_ACTING_FOR = {
    "name": "username",
    "in": "query",
    "required": True,
    "description": "The account whose group it is (staff and pipeline tokens act for any).",
    "schema": {"type": "string", "minLength": 1, "maxLength": USERNAME_MAX_CHARS},
}
_CONTACTS_NOT_FOUND = _error_response(
    "No such account (`account_not_found`), or it has no group of that name (`group_not_found`)."
)


def _contacts_paths() -> dict[str, Any]:
    return {
        contacts_routes.IMPORT_PATH: {
            "post": {
                "summary": "Import contacts into a group, with a report on every refused row",
                "tags": ["contacts"],
                "description": (
                    "A CSV file (`name,number` lines with or without a header, or numbers "
                    "alone; UTF-8, a BOM and CRLF are fine) or a JSON list. Numbers are "
                    "normalised as the messaging API reads them, national ones as numbers of "
                    "the account's home country. Repeats, in the body or of numbers already "
                    "in the group, are counted as `duplicates`; rows that cannot be imported "
                    "are in `rejected` and do not fail the rest. A group holds at most "
                    "`SECGATE_MAX_GROUP_SEND_NUMBERS` numbers."
                ),
                "security": [{"bearer": []}],
                "parameters": [_GROUP_NAME, _ACTING_FOR],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "text/plain": {"schema": {"type": "string"}},
                        _JSON: {"schema": _ref("schemas", "ContactList")},
                    },
                },
                "responses": {
                    "200": {
                        "description": "What was imported, and every row refused with why.",
                        "content": _json_content(_ref("schemas", "ImportReport")),
                    },
                    "400": _error_response(
                        "The body cannot be read as a whole: `invalid_import` (not UTF-8, over "
                        f"{contacts.MAX_IMPORT_BYTES} bytes or {contacts.MAX_IMPORT_LINES} "
                        "lines), `empty_body`, `malformed_json`, `invalid_field`; or "
                        "`invalid_group_name`, or `username` is missing (`invalid_query`)."
                    ),
                    **_error_responses(401, 403, 413, 503),
                    "404": _CONTACTS_NOT_FOUND,
                    "415": _error_response("Neither CSV nor JSON (`unsupported_media_type`)."),
                },
            }
        },
        contacts_routes.GROUP_PATH: {
            "get": {
                "summary": "The contacts of a group, in the order they were added",
                "tags": ["contacts"],
                "security": [{"bearer": []}],
                "parameters": [_GROUP_NAME, _ACTING_FOR],
                "responses": {
                    "200": {
                        "description": "The group.",
                        "content": _json_content(_ref("schemas", "ContactGroup")),
                    },
                    "400": _error_response("`username` is missing (`invalid_query`)."),
                    **_error_responses(401, 403, 503),
                    "404": _CONTACTS_NOT_FOUND,
                },
            }
        },
    }


def _contacts_schemas() -> dict[str, Any]:
    contact = {
        "type": "object",
        "required": ["name", "number"],
        "properties": {
            "name": {"type": "string", "maxLength": contacts.MAX_CONTACT_NAME_CHARS},
            "number": {"type": "string", "description": "Digits, country code first."},
        },
    }
    return {
        "ContactList": {
            "type": "object",
            "required": ["contacts"],
            "additionalProperties": False,
            "properties": {
                "contacts": {
                    "type": "array",
                    "maxItems": contacts.MAX_IMPORT_LINES,
                    "items": {
                        "type": "object",
                        "required": ["number"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "default": ""},
                            "number": {
                                "type": ["string", "integer"],
                                "description": "As people write it: `+`, `00`, spaces, "
                                "dashes and Arabic-Indic digits are fine.",
                            },
                        },
                    },
                }
            },
        },
        "ImportReport": {
            "type": "object",
            "required": ["group", "added", "duplicates", "rejected"],
            "properties": {
                "group": {"type": "string"},
                "added": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "rejected": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["line", "raw", "reason"],
                        "properties": {
                            "line": {
                                "type": "integer",
                                "description": "Line of the file, or position in the JSON list "
                                "(from 1).",
                            },
                            "raw": {"type": "string", "description": "The row as given."},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        },
        "ContactGroup": {
            "type": "object",
            "required": ["group", "count", "contacts"],
            "properties": {
                "group": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "contacts": {"type": "array", "items": contact},
            },
        },
    }


# -- protected sender names (staff) ----------------------------------------------------

_PROTECTED_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The protected name (any case).",
    "schema": {"type": "string"},
}


def _protected_sender_paths() -> dict[str, Any]:
    path = protected_sender_routes.PATH
    entry = _json_content(_ref("schemas", "ProtectedSender"))
    not_found = _error_response(
        "No such protected name, or the account named is not one of its owners "
        "(`protected_sender_not_found`); no account by that `owner` (`account_not_found`)."
    )
    return {
        path: {
            "get": {
                "summary": "Protected sender names, by name",
                "tags": ["protected senders"],
                "description": (
                    "Only their owners may use these names as sender IDs, or anything that "
                    "looks like them (other case, separators, digits or symbols for letters, "
                    "look-alike Unicode characters, a small misspelling, the name inside a "
                    "longer ID); everyone else gets ERR008."
                ),
                "security": [{"bearer": []}],
                "responses": {
                    "200": {
                        "description": "Every protected name.",
                        "content": _json_content(_ref("schemas", "ProtectedSenderList")),
                    },
                    **_error_responses(401, 403, 503),
                },
            },
            "post": {
                "summary": "Protect a name, or give a protected name more owners",
                "tags": ["protected senders"],
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": _json_content(_ref("schemas", "ProtectedSenderBody")),
                },
                "responses": {
                    "200": {"description": "The name was protected already.", "content": entry},
                    "201": {"description": "The name is now protected.", "content": entry},
                    "400": _error_response(
                        "A wrong `name` (`invalid_field`), an unknown owner "
                        "(`account_not_found`), or a malformed body."
                    ),
                    **_error_responses(401, 403, 413, 503),
                    "409": _error_response(
                        "Another request added the name at the same moment "
                        "(`protected_sender_conflict`); try again."
                    ),
                },
            },
        },
        path + "/{name}": {
            "delete": {
                "summary": "Stop protecting a name, or take one owner off it",
                "tags": ["protected senders"],
                "security": [{"bearer": []}],
                "parameters": [
                    _PROTECTED_NAME,
                    _query(
                        "owner",
                        "Only take this account (username) off the name's owners.",
                        {"type": "string"},
                        # `?owner=` names an account (there is none by that name).
                        empty_is_absent=False,
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The name as it was removed, or as it now stands.",
                        "content": entry,
                    },
                    "400": _error_response("`owner` given twice (`invalid_query`)."),
                    **_error_responses(401, 403, 503),
                    "404": not_found,
                },
            }
        },
    }


def _protected_sender_schemas() -> dict[str, Any]:
    entry = {
        "type": "object",
        "required": ["name", "owners", "created_at"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Z0-9]{2,11}$", "examples": ["NBK"]},
            "owners": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Usernames of the accounts that may use the name.",
            },
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "ProtectedSender": entry,
        "ProtectedSenderList": {
            "type": "object",
            "required": ["protected_senders"],
            "properties": {
                "protected_senders": {"type": "array", "items": _ref("schemas", "ProtectedSender")}
            },
        },
        "ProtectedSenderBody": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "string",
                    "description": "2 to 11 letters A-Z and digits, at least one letter; "
                    "stored in capitals.",
                    "examples": ["NBK"],
                },
                "owners": {
                    "type": "array",
                    "items": {"type": "string"},
                    "maxItems": protected_sender_routes.MAX_OWNERS,
                    "description": "Usernames of accounts that may use the name.",
                },
            },
        },
    }


# -- pre-send checks (CONTRACT §4.3) and held messages ----------------------------------


def _check_paths() -> dict[str, Any]:
    too_large = _error_response(
        "The body is over the size limit (`body_too_large`), the message has more pages "
        "than a send may have (`message_too_long`), more recipients than a send may have "
        "(`too_many_recipients`), or, for a batch, more messages than "
        "`SECGATE_CHECK_BATCH_MAX_MESSAGES` (`too_many_messages`)."
    )
    bad_request = _error_response(
        "A malformed body, a wrong, missing or unknown field or a recipient that is not a "
        "mobile number (`invalid_field`, naming it), or an unknown `username` "
        "(`account_not_found`)."
    )
    description = (
        "The checks the send API applies before charging a message (content rules, "
        "sender-ID guard, spam model, SMS pumping), without sending anything. With "
        "`username`, that account's view: the protected names it owns, its sender IDs "
        "(ERR008 for another sender), its sending history and throttles. Without it, "
        "checks about an account are skipped and every protected name is refused. "
        "A dry run (the default) raises no alert and starts no throttle; "
        "`dry_run: false` does both, as a send would."
    )
    return {
        check_routes.PATH: {
            "post": {
                "summary": "Check one message before sending it",
                "tags": ["checks"],
                "description": description,
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": _json_content(_ref("schemas", "MessageCheckBody")),
                },
                "responses": {
                    "200": {
                        "description": "The verdict.",
                        "content": _json_content(_ref("schemas", "CheckVerdict")),
                    },
                    "400": bad_request,
                    **_error_responses(401, 403, 503),
                    "413": too_large,
                },
            }
        },
        check_routes.BATCH_PATH: {
            "post": {
                "summary": "Check many messages at once",
                "tags": ["checks"],
                "description": description + " The spam model scores the batch in one call.",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": _json_content(_ref("schemas", "MessageCheckBatchBody")),
                },
                "responses": {
                    "200": {
                        "description": "The verdict on each message, in the order given.",
                        "content": _json_content(
                            {
                                "type": "object",
                                "required": ["results"],
                                "properties": {
                                    "results": {
                                        "type": "array",
                                        "items": _ref("schemas", "CheckVerdict"),
                                    }
                                },
                            }
                        ),
                    },
                    "400": bad_request,
                    **_error_responses(401, 403, 503),
                    "413": too_large,
                },
            }
        },
    }


_HELD_MSG_ID = {
    "name": "msg_id",
    "in": "path",
    "required": True,
    "description": "The msg-id the send answered with.",
    "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{1,32}$"},
}
_HELD_NOT_FOUND = _error_response(
    "No message with this msg-id is waiting for review (`held_message_not_found`)."
)
_HELD_TEXT_NOTE = "Every answer that shows message text is logged first: who, which message, when."


def _held_decision(summary: str, description: str, conflict: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "The decision, as made.",
            "content": _json_content(_ref("schemas", "HeldMessageDecision")),
        },
        **_error_responses(400, 401, 403, 413, 503),
        "404": _HELD_NOT_FOUND,
    }
    if conflict:
        responses["409"] = _error_response(
            "The retention job removed the message's text (`text_removed`): reject it."
        )
    return {
        "summary": summary,
        "tags": ["held messages"],
        "description": description,
        "security": [{"bearer": []}],
        "parameters": [_HELD_MSG_ID],
        "requestBody": {
            "required": False,
            "content": _json_content(_ref("schemas", "HeldMessageNote")),
        },
        "responses": responses,
    }


def _held_message_paths() -> dict[str, Any]:
    path = held_message_routes.PATH
    return {
        path: {
            "get": {
                "summary": "Messages held for review, oldest first",
                "tags": ["held messages"],
                "description": "Held messages are charged, not sent, until staff release "
                "or reject them. " + _HELD_TEXT_NOTE,
                "security": [{"bearer": []}],
                "parameters": [
                    _query("account", "Only this account's (username).", _USERNAME_FILTER),
                    _query(
                        "after",
                        "The `next` of the previous page.",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": held_message_routes.MAX_MESSAGE_ID,
                        },
                    ),
                    _query(
                        "limit",
                        "At most this many.",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": held_messages.MAX_LIMIT,
                            "default": held_messages.DEFAULT_LIMIT,
                        },
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of held messages.",
                        "content": _json_content(_ref("schemas", "HeldMessagePage")),
                    },
                    "400": _error_response("A wrong query parameter (`invalid_query`)."),
                    **_error_responses(401, 403, 503),
                },
            }
        },
        path + "/{msg_id}": {
            "get": {
                "summary": "One held message, decided or not",
                "tags": ["held messages"],
                "description": _HELD_TEXT_NOTE,
                "security": [{"bearer": []}],
                "parameters": [_HELD_MSG_ID],
                "responses": {
                    "200": {
                        "description": "The message.",
                        "content": _json_content(_ref("schemas", "HeldMessage")),
                    },
                    **_error_responses(401, 403, 503),
                    "404": _error_response(
                        "No message with this msg-id was held (`held_message_not_found`)."
                    ),
                },
            }
        },
        path + "/{msg_id}/release": {
            "post": _held_decision(
                "Send a held message",
                "Its recipients are queued for delivery (a test message is never sent).",
                conflict=True,
            )
        },
        path + "/{msg_id}/reject": {
            "post": _held_decision(
                "Refuse a held message for good",
                "Its recipients become REJECTED and the points its send took are refunded (once).",
                conflict=False,
            )
        },
    }


def _check_schemas() -> dict[str, Any]:
    message_body = {
        "type": "object",
        "required": ["sender", "message"],
        "additionalProperties": False,
        "properties": {
            "username": {
                "type": ["string", "null"],
                "maxLength": USERNAME_MAX_CHARS,
                "description": "Check as this account would send (see above).",
            },
            "sender": {"type": "string", "minLength": 1, "maxLength": 64},
            "message": {"type": "string"},
            "recipients": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Mobile numbers as the send API takes them; with `username`, "
                "a national number is read in the account's home country.",
            },
            "dry_run": {"type": "boolean", "default": True},
        },
    }
    reason = {
        "type": "object",
        "required": ["check", "verdict", "reason"],
        "description": "A check that did not pass (or did not answer: `not_checked`), "
        "with what it found.",
        "properties": {
            "check": {"type": "string", "examples": ["spam_model"]},
            "verdict": {"enum": ["pass", "hold", "reject"]},
            "code": {"type": "string", "examples": ["ERR032"]},
            "reason": {"type": "string"},
            "not_checked": {"type": "boolean"},
            "spam_thresholds": {
                "enum": ["default", "transactional"],
                "description": "From the spam model: which pair of thresholds judged the "
                "message (`transactional` for the account's transactional sender IDs).",
            },
        },
        "additionalProperties": True,
    }
    held_message = {
        "type": "object",
        "required": [
            "msg_id",
            "account",
            "sender",
            "text",
            "numbers",
            "points_charged",
            "test",
            "created_at",
            "reasons",
            "spam_score",
            "decision",
        ],
        "properties": {
            "msg_id": {"type": "string"},
            "account": {"type": "string", "description": "The username."},
            "sender": {"type": "string"},
            "text": {"type": "string", "description": "Empty once `text_removed`."},
            "encoding": {"enum": ["gsm7", "ucs2"]},
            "pages": {"type": "integer"},
            "numbers": {"type": "integer"},
            "points_charged": {"type": "integer"},
            "test": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "reasons": {"type": "array", "items": _ref("schemas", "CheckReason")},
            "spam_score": {"type": "number"},
            "text_removed": {"type": "boolean"},
            "decision": {"enum": ["released", "rejected", None]},
            "decided_by": {"type": ["string", "null"]},
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    return {
        "MessageCheckBody": message_body,
        "MessageCheckBatchBody": {
            "type": "object",
            "required": ["messages"],
            "additionalProperties": False,
            "properties": {
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": _ref("schemas", "MessageCheckBody"),
                }
            },
        },
        "CheckReason": reason,
        "CheckVerdict": {
            "type": "object",
            "required": ["verdict", "code", "spam_score", "reasons"],
            "properties": {
                "verdict": {
                    "enum": ["pass", "hold", "reject"],
                    "description": "hold: the send API keeps the message for staff review.",
                },
                "code": {
                    "type": ["string", "null"],
                    "description": "With `reject`: the kwtSMS code the send API answers "
                    "(ERR008, ERR013, ERR027, ERR031, ERR032).",
                },
                "spam_score": {"type": "number", "minimum": 0, "maximum": 1},
                "reasons": {"type": "array", "items": _ref("schemas", "CheckReason")},
            },
        },
        "HeldMessage": held_message,
        "HeldMessagePage": {
            "type": "object",
            "required": ["held_messages", "next"],
            "properties": {
                "held_messages": {"type": "array", "items": _ref("schemas", "HeldMessage")},
                "next": {
                    "type": ["integer", "null"],
                    "description": "Pass as `after` for the next page; null at the end.",
                },
            },
        },
        "HeldMessageNote": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "note": {
                    "type": ["string", "null"],
                    "maxLength": held_messages.MAX_NOTE_CHARS,
                    "description": "Why; kept with the decision.",
                }
            },
        },
        "HeldMessageDecision": {
            "type": "object",
            "required": ["msg_id", "decision", "recipients", "points_refunded", "balance_after"],
            "properties": {
                "msg_id": {"type": "string"},
                "decision": {"enum": ["released", "rejected"]},
                "recipients": {"type": "integer", "description": "Recipients queued or rejected."},
                "points_refunded": {"type": "integer"},
                "balance_after": {
                    "type": ["integer", "null"],
                    "description": "The account's balance after the refund, if there was one.",
                },
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SecGate",
            "version": "1",
            "description": (
                "Security and fraud-detection gateway for a bulk-SMS platform. Every error "
                "answer is JSON with a stable `code`, a `description` and the `request_id` "
                "(also in the `X-Request-ID` header) to quote to support."
            ),
        },
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Whether the gateway and its stores answer",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "Both stores answer.",
                            "content": _json_content(_ref("schemas", "Health")),
                        },
                        "503": {
                            "description": "A store does not answer; `checks` names it.",
                            "content": _json_content(_ref("schemas", "Health")),
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Metrics in the Prometheus text format",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format 0.0.4.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            OPENAPI_PATH: {
                "get": {
                    "summary": "This document",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 description of the API.",
                            "content": _json_content({"type": "object"}),
                        }
                    },
                }
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Alerts for security staff, newest first",
                    "tags": ["alerts"],
                    "security": [{"bearer": []}],
                    "parameters": [
                        _query(
                            "type",
                            "Only this alert type, e.g. `login.bruteforce`.",
                            {
                                "type": "string",
                                "maxLength": alert_store.MAX_TYPE_CHARS,
                                "pattern": f"^(?:{alert_store.TYPE_PATTERN})$",
                            },
                        ),
                        _query("severity", "Only this severity.", _ref("schemas", "Severity")),
                        _query("status", "Only this status.", _ref("schemas", "AlertStatus")),
                        _query(
                            "account",
                            "Only alerts about the account with this username.",
                            _USERNAME_FILTER,
                        ),
                        _query(
                            "after",
                            "The `next` of the previous page.",
                            {"type": "integer", "minimum": 1, "maximum": alert_store.MAX_ALERT_ID},
                        ),
                        _query(
                            "limit",
                            "Alerts per page.",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": alert_store.MAX_LIMIT,
                                "default": alert_store.DEFAULT_LIMIT,
                            },
                        ),
                    ],
                    "description": "Empty query values (`?type=&severity=`) mean any.",
                    "responses": {
                        "200": {
                            "description": "One page of alerts.",
                            "content": _json_content(_ref("schemas", "AlertPage")),
                        },
                        "400": _error_response("A query value is wrong (`invalid_query`)."),
                        **_error_responses(401, 403, 503),
                    },
                }
            },
            "/api/v1/alerts/{id}/ack": {
                "post": _alert_action("Acknowledge an alert: someone is looking at it"),
            },
            "/api/v1/alerts/{id}/resolve": {
                "post": _alert_action("Resolve an alert: it needs no more attention"),
            },
            **_messaging_paths(),
            **_sandbox_paths(),
            **_contacts_paths(),
            **_protected_sender_paths(),
            **_check_paths(),
            **_held_message_paths(),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `python -m secgate token create`.",
                }
            },
            "responses": {
                "BadRequest": _error_response(
                    "The request is malformed: `malformed_json`, `invalid_utf8`, "
                    "`invalid_text`, `invalid_field`, `empty_body`, `bad_request`."
                ),
                "Unauthorized": _error_response("No valid credentials (`unauthorized`)."),
                "Forbidden": _error_response(
                    "The credentials do not allow this request (`forbidden`)."
                ),
                "BodyTooLarge": _error_response(
                    "The body is over the size limit (`body_too_large`)."
                ),
                "StoreUnavailable": _error_response(
                    "A store of the gateway (its database or hot state) does not answer "
                    "(`store_unavailable`): try again later."
                ),
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "description"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "description": "Stable; programs branch on it.",
                            "examples": ["malformed_json"],
                        },
                        "description": {"type": "string", "description": "For people."},
                        "request_id": {"type": "string"},
                        "result": {
                            "const": "ERROR",
                            "description": "On the messaging API (`/API/*`) only, where "
                            "`code` is kwtSMS's `ERRnnn`.",
                        },
                        "fields": {
                            "type": "array",
                            "description": "With `invalid_field`: each problem found.",
                            "items": {
                                "type": "object",
                                "required": ["field", "problem"],
                                "properties": {
                                    "field": {"type": "string"},
                                    "problem": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "checks"],
                    "properties": {
                        "status": {"enum": ["ok", "unavailable"]},
                        "checks": {
                            "type": "object",
                            "required": ["database", "hot_state"],
                            "properties": {
                                "database": {"enum": ["ok", "unavailable"]},
                                "hot_state": {"enum": ["ok", "unavailable"]},
                            },
                        },
                    },
                },
                "Severity": {"enum": [s.value for s in AlertSeverity]},
                "AlertStatus": {"enum": [s.value for s in AlertStatus]},
                "Alert": {
                    "type": "object",
                    "required": [
                        "id",
                        "type",
                        "severity",
                        "status",
                        "account",
                        "ip",
                        "country",
                        "count",
                        "first_seen",
                        "last_seen",
                        "details",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "type": {"type": "string", "examples": ["login.bruteforce"]},
                        "severity": _ref("schemas", "Severity"),
                        "status": _ref("schemas", "AlertStatus"),
                        "account": {
                            "type": ["string", "null"],
                            "description": "The username of the account concerned.",
                        },
                        "ip": {"type": ["string", "null"]},
                        "country": {
                            "type": ["string", "null"],
                            "description": "ISO 3166-1 alpha-2",
                        },
                        "count": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Repeats folded into this alert.",
                        },
                        "first_seen": {"type": "string", "format": "date-time"},
                        "last_seen": {"type": "string", "format": "date-time"},
                        "details": {"type": "object"},
                    },
                },
                "AlertPage": {
                    "type": "object",
                    "required": ["alerts", "next"],
                    "properties": {
                        "alerts": {"type": "array", "items": _ref("schemas", "Alert")},
                        "next": {
                            "type": ["integer", "null"],
                            "description": "Pass as `after` for the next page; null at the end.",
                        },
                    },
                },
                **_messaging_schemas(),
                **_sandbox_schemas(),
                **_contacts_schemas(),
                **_protected_sender_schemas(),
                **_check_schemas(),
                "AlertActionBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "note": {
                            "type": ["string", "null"],
                            "maxLength": alert_store.MAX_NOTE_CHARS,
                            "description": "Why, for the other staff.",
                        },
                    },
                },
            },
        },
    }


def setup_routes(app: web.Application) -> None:
    body = json.dumps(openapi_document()).encode()

    async def openapi_json(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=_JSON)

    app.router.add_get(OPENAPI_PATH, openapi_json)
