"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every JSON endpoint.

The document is written here by hand, next to nothing else, so that it reads as the
API's reference. `tests/ops/test_openapi.py` fails when a route of the application is
missing from it: an endpoint is not done until it is described here.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from secgate.alerts import store as alert_store
from secgate.storage.models import AlertSeverity, AlertStatus

OPENAPI_PATH = "/api/openapi.json"

_JSON = "application/json"


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
            **_error_responses(400, 401, 403, 413),
            "404": _error_response("No such alert (`alert_not_found`)."),
        },
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
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
                            {"type": "string", "maxLength": 64},
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
                        **_error_responses(401, 403),
                    },
                }
            },
            "/api/v1/alerts/{id}/ack": {
                "post": _alert_action("Acknowledge an alert: someone is looking at it"),
            },
            "/api/v1/alerts/{id}/resolve": {
                "post": _alert_action("Resolve an alert: it needs no more attention"),
            },
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
