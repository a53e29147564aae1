"""PLACEHOLDER: being written; replace whole."""

from aiohttp import web


@web.middleware
async def request_context_middleware(request, handler):
    return await handler(request)
