"""`GET /metrics`: requests counted by method, route pattern and status."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from secgate.app import create_app
from secgate.ops.metrics import Metrics
from secgate.settings import Settings


async def _item(request: web.Request) -> web.Response:
    return web.Response(text=request.match_info["id"])


async def _boom(_request: web.Request) -> web.Response:
    raise RuntimeError("bug")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> TestClient:
    app = create_app(make_settings())
    app.router.add_get("/test/items/{id}", _item)
    app.router.add_get("/test/boom", _boom)
    return await aiohttp_client(app)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called `name`, keyed by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def scrape(client: TestClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return await resp.text()


async def test_metrics_are_served_in_the_prometheus_text_format(client: TestClient) -> None:
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE secgate_http_requests_total counter" in await resp.text()


async def test_requests_are_counted_by_route_pattern_not_raw_path(client: TestClient) -> None:
    for item in ("1", "2", "3"):
        assert (await client.get(f"/test/items/{item}")).status == 200
    text = await scrape(client)
    counts = samples(text, "secgate_http_requests_total")
    assert counts[key(method="GET", route="/test/items/{id}", status="200")] == 3
    assert "/test/items/1" not in text


async def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    await client.get("/nope/1")
    await client.get("/nope/2")
    await client.post("/healthz")
    counts = samples(await scrape(client), "secgate_http_requests_total")
    assert counts[key(method="GET", route="unmatched", status="404")] == 2
    assert counts[key(method="POST", route="unmatched", status="405")] == 1


async def test_made_up_methods_share_one_label(client: TestClient) -> None:
    await client.request("PROPFIND", "/healthz")
    await client.request("PURGE", "/healthz")
    counts = samples(await scrape(client), "secgate_http_requests_total")
    assert counts[key(method="other", route="unmatched", status="405")] == 2


async def test_errors_are_counted_with_the_status_the_client_got(client: TestClient) -> None:
    assert (await client.get("/test/boom")).status == 500
    counts = samples(await scrape(client), "secgate_http_requests_total")
    assert counts[key(method="GET", route="/test/boom", status="500")] == 1


async def test_latency_is_observed_per_route(client: TestClient) -> None:
    await client.get("/test/items/1")
    await client.get("/test/items/2")
    text = await scrape(client)
    counts = samples(text, "secgate_http_request_duration_seconds_count")
    assert counts[key(method="GET", route="/test/items/{id}")] == 2
    sums = samples(text, "secgate_http_request_duration_seconds_sum")
    assert sums[key(method="GET", route="/test/items/{id}")] >= 0


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a shared registry would refuse the second
    first.observe_request("GET", "/healthz", 200, 0.01)
    first_counts = samples(first.exposition().decode(), "secgate_http_requests_total")
    second_counts = samples(second.exposition().decode(), "secgate_http_requests_total")
    assert first_counts == {key(method="GET", route="/healthz", status="200"): 1}
    assert second_counts == {}
