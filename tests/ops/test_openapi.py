"""`GET /api/openapi.json` describes every endpoint, and only real ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
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
