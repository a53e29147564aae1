"""PLACEHOLDER: being written; replace whole."""

from aiohttp import web


def setup_routes(app: web.Application) -> None:
    pass
