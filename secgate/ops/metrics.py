"""PLACEHOLDER: being written; replace whole."""

from aiohttp import web


class Metrics:
    pass


@web.middleware
async def metrics_middleware(request, handler):
    return await handler(request)


def setup_routes(app: web.Application) -> None:
    pass
