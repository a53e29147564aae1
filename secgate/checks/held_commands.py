"""`python -m secgate held list|show|release|reject`: the review queue of held
messages from the command line (the staff API's twin, secgate.checks.held_message_routes).

`list` and `show` print one JSON object a line, text included, and log a content view
of each message shown as "cli:<login name>" (`held_messages.log_content_views`).
`release` and `reject` print the outcome as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from secgate.alerts.store import AlertSink
from secgate.checks import held_messages
from secgate.checks.pipeline import Pipeline
from secgate.checks.pumping import pumping_checks
from secgate.hotstate.factory import open_hot_state
from secgate.settings import Settings
from secgate.storage.db import session_factory

PURPOSE = "cli:held"

SessionOpener = Callable[[Settings], AbstractAsyncContextManager[AsyncSession]]


def add_parser(commands: Any, open_session: SessionOpener) -> None:
    """Add the `held` commands; `open_session(settings)` opens a checked session."""
    held = commands.add_parser(
        "held", help="review messages held by the pre-send checks"
    ).add_subparsers(title="held commands", metavar="COMMAND", required=True)

    listing = held.add_parser(
        "list",
        help="print the messages waiting for review, oldest first, one JSON object a line",
        description="Each look at message text is logged (who, which message, when).",
    )
    listing.add_argument("--username", help="only this account's messages")
    listing.add_argument(
        "--limit", type=int, default=held_messages.DEFAULT_LIMIT, help="at most this many"
    )
    listing.set_defaults(run=lambda args, settings: _list(args, settings, open_session))

    show = held.add_parser("show", help="print one held message (decided or not) as JSON")
    show.add_argument("--msg-id", required=True)
    show.set_defaults(run=lambda args, settings: _show(args, settings, open_session))

    for name, help_text in (
        ("release", "send a held message: its recipients are queued for delivery"),
        ("reject", "refuse a held message for good and refund what its send took"),
    ):
        decide = held.add_parser(name, help=help_text)
        decide.add_argument("--msg-id", required=True)
        decide.add_argument("--note", help="why (kept with the decision)")
        decide.set_defaults(
            run=lambda args, settings, name=name: _decide(args, settings, open_session, name)
        )


def viewer() -> str:
    return f"cli:{getpass.getuser()}"


def _list(args: argparse.Namespace, settings: Settings, open_session: SessionOpener) -> None:
    if not 1 <= args.limit <= held_messages.MAX_LIMIT:
        raise held_messages.HeldMessageError(
            f"--limit: 1 to {held_messages.MAX_LIMIT} messages at a time"
        )

    async def run() -> list[held_messages.HeldMessageView]:
        async with open_session(settings) as session:
            views, _ = await held_messages.list_held(
                session, viewer=viewer(), purpose=PURPOSE, account=args.username, limit=args.limit
            )
            await session.commit()
            return views

    for view in asyncio.run(run()):
        print(json.dumps(view.to_json(), ensure_ascii=False))


def _show(args: argparse.Namespace, settings: Settings, open_session: SessionOpener) -> None:
    async def run() -> held_messages.HeldMessageView:
        async with open_session(settings) as session:
            view = await held_messages.show_held(
                session, args.msg_id, viewer=viewer(), purpose=PURPOSE
            )
            await session.commit()
            return view

    print(json.dumps(asyncio.run(run()).to_json(), ensure_ascii=False))


def _decide(
    args: argparse.Namespace, settings: Settings, open_session: SessionOpener, decision: str
) -> None:
    async def run() -> held_messages.ReviewOutcome:
        now = datetime.now(UTC)
        async with open_session(settings) as session:
            if decision == "reject":
                outcome = await held_messages.reject(
                    session, args.msg_id, by=viewer(), now=now, note=args.note
                )
                await session.commit()
                return outcome
            released = await held_messages.release(
                session, args.msg_id, by=viewer(), now=now, note=args.note
            )
            await session.commit()
            hot = await open_hot_state(settings)
            try:
                # Only the pumping checks' counts are needed: they count the send.
                engine = session.bind
                assert isinstance(engine, AsyncEngine)
                alerts = AlertSink(session_factory(engine), hot, settings)
                pipeline = Pipeline([], pumping_checks(hot, settings, alerts))
                await held_messages.dispatch_released(
                    released,
                    hot=hot,
                    dispatch_batch_size=settings.dispatch_batch_size,
                    pipeline=pipeline,
                )
            finally:
                await hot.close()
            return released.outcome

    print(json.dumps(asyncio.run(run()).to_json()))
