"""`GET /api/openapi.json` describes every endpoint, and only real ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from secgate.app import create_app
from secgate.ops.openapi import openapi_document
from secgate.settings import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def document() -> dict[str, Any]:
    return openapi_document()


def app_operations(settings: Settings) -> set[tuple[str, str]]:
    """(path pattern, method) of every route of the real application."""
    app = create_app(settings)
    return {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        # aiohttp adds HEAD beside each GET by itself.
        if route.resource is not None and route.method != "HEAD"
    }


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_route_of_the_app_is_documented(
    document: dict[str, Any], make_settings: Callable[..., Settings]
) -> None:
    missing = app_operations(make_settings()) - documented_operations(document)
    assert not missing, f"routes missing from secgate/ops/openapi.py: {sorted(missing)}"


def test_every_documented_operation_exists(
    document: dict[str, Any], make_settings: Callable[..., Settings]
) -> None:
    phantom = documented_operations(document) - app_operations(make_settings())
    assert not phantom, f"documented but not routed: {sorted(phantom)}"


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any structural error


def test_every_operation_has_responses_and_a_summary(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            assert operation["summary"], (path, method)


def test_every_4xx_answer_is_the_error_schema(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    if "$ref" in response:
                        response = responses[response["$ref"].rsplit("/", 1)[1]]
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error, (path, method, status)


def test_the_error_schema_has_code_description_and_request_id(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert {"code", "description", "request_id"} <= set(error["properties"])
    assert set(error["required"]) == {"code", "description"}


def test_protected_endpoints_declare_the_bearer_scheme(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/"):
            for operation in item.values():
                assert operation["security"] == [{"bearer": []}]
                assert "401" in operation["responses"]


async def test_the_document_is_served_as_json(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    document: dict[str, Any],
) -> None:
    client = await aiohttp_client(create_app(make_settings()))
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == document


# -- what the document says matches what the handlers take (gaps found by
#    tests/web/test_api_fuzz.py) --------------------------------------------------------


def valid(instance: object, schema: dict[str, Any]) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


def test_a_send_names_mobile_or_group_not_both(document: dict[str, Any]) -> None:
    send_body = document["components"]["schemas"]["SendBody"]
    fields = {"username": "acme", "password": "pw", "sender": "KWT-SMS", "message": "Hi"}
    assert valid(fields | {"mobile": "96550000001"}, send_body)
    assert valid(fields | {"group": "friends"}, send_body)
    assert not valid(fields, send_body)  # ERR002: Missing parameter: mobile
    assert not valid(fields | {"mobile": "96550000001", "group": "friends"}, send_body)


def test_a_check_may_name_no_account_with_null(document: dict[str, Any]) -> None:
    check_body = document["components"]["schemas"]["MessageCheckBody"]
    assert valid({"sender": "KWT-SMS", "message": "Hi", "username": None}, check_body)


async def test_an_empty_optional_query_value_is_taken_as_not_given(
    client: TestClient, staff: dict[str, str], document: dict[str, Any]
) -> None:
    """`?after=` is documented as allowed (allowEmptyValue) where the handler reads it
    as absent; each such parameter, sent empty, is answered 200."""
    tried = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            may_be_empty = [p["name"] for p in parameters if p.get("allowEmptyValue")]
            required = {  # e.g. the sandbox outbox's `to`
                p["name"]: p["schema"]["examples"][0]
                for p in parameters
                if may_be_empty and p["in"] == "query" and p["required"]
            }
            for name in may_be_empty:
                query = required | {name: ""}
                resp = await client.request(method, path, params=query, headers=staff)
                assert resp.status == 200, (method, path, query, await resp.text())
                tried.append(name)
    assert {"after", "limit", "account", "type"} <= set(tried)
