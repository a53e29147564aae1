"""The ceiling: the least an aiohttp server can do for a request (answer "ok").

python bench/hello_server.py --port 8081
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    app = web.Application()
    app.router.add_get("/", hello)
    # No access log: the gateway is measured without per-request log lines too.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
