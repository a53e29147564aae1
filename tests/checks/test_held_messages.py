"""The review queue of held messages: listing them (each look at their text logged),
releasing one (queued for dispatch, counted by the abuse checks) and rejecting one
(recipients REJECTED, the charge refunded exactly once); over HTTP, staff only.

Held messages are made by the send path itself, with a pipeline that holds every
message containing "review".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from api_calls import bearer, call
from customer_accounts import register_account, stored_balance
from sqlalchemy import select, update

from secgate.checks import held_messages
from secgate.checks.held_messages import HeldMessageNotFound, TextRemoved
from secgate.checks.pipeline import Pipeline
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, held, passed
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms.send import DISPATCH_QUEUE, SendAccepted, SendRequest, SmsService
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    ContentView,
    CreditEntry,
    DeliveryEvent,
    Message,
    MessageHold,
    MessageStatus,
    Recipient,
    RecipientState,
    TokenRole,
)

NOW = 1_800_000_000.0
LATER = datetime.fromtimestamp(NOW + 600, UTC)
NUMBERS = ["96550000001", "96560000002", "96550000003"]


@dataclass
class HoldsReview:
    """Holds every message with "review" in it."""

    name: str = "review_words"
    fails: FailMode = "closed"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        if "review" in m.text:
            return held(self.name, "a word that needs a look")
        return passed(self.name)


@dataclass
class Counter:
    """An abuse check that records what was counted as sent."""

    name: str = "counter"
    fails: FailMode = "closed"
    sent: list[MessageUnderCheck] = field(default_factory=list)

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        return passed(self.name)

    async def record_sent(self, m: MessageUnderCheck) -> None:
        self.sent.append(m)


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def pipeline(counter: Counter) -> Pipeline:
    return Pipeline([HoldsReview()], [counter])


@pytest.fixture
async def account_id(db_sessions: SessionFactory) -> int:
    return await register_account(db_sessions, "shop", balance=100, senders=["MyShop"])


HoldMessage = Callable[..., Awaitable[str]]


@pytest.fixture
def hold_message(
    db_sessions: SessionFactory,
    memory_hot: MemoryHotState,
    pipeline: Pipeline,
    make_settings: Callable[..., Settings],
) -> HoldMessage:
    """Send a message that is held; its msg-id."""
    service = SmsService(
        db_sessions, memory_hot, make_settings(), pipeline=pipeline, clock=lambda: NOW
    )

    async def send(account_id: int, text: str = "please review", **changes: Any) -> str:
        fields: dict[str, Any] = {
            "account_id": account_id,
            "sender": "MyShop",
            "numbers": NUMBERS,
            "text": text,
            "test": False,
            "client_ip": None,
        }
        outcome = await service.send(SendRequest(**{**fields, **changes}))
        assert isinstance(outcome, SendAccepted)
        assert outcome.status is MessageStatus.HELD
        return outcome.msg_id

    return send


async def content_views(db_sessions: SessionFactory) -> list[tuple[str, str, str]]:
    async with db_sessions() as session:
        rows = await session.execute(
            select(ContentView.viewer, ContentView.msg_id, ContentView.purpose).order_by(
                ContentView.id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def recipient_states(db_sessions: SessionFactory, msg_id: str) -> set[RecipientState]:
    async with db_sessions() as session:
        return set(
            await session.scalars(
                select(Recipient.state).join(Message).where(Message.msg_id == msg_id)
            )
        )


async def release(
    db_sessions: SessionFactory,
    hot: HotState,
    msg_id: str,
    pipeline: Pipeline | None = None,
    note: str | None = None,
) -> held_messages.Released:
    async with db_sessions() as session:
        released = await held_messages.release(session, msg_id, by="Sara", now=LATER, note=note)
        await session.commit()
    await held_messages.dispatch_released(
        released, hot=hot, dispatch_batch_size=2, pipeline=pipeline
    )
    return released


async def reject(
    db_sessions: SessionFactory, msg_id: str, note: str | None = None
) -> held_messages.ReviewOutcome:
    async with db_sessions() as session:
        outcome = await held_messages.reject(session, msg_id, by="Sara", now=LATER, note=note)
        await session.commit()
    return outcome


# --- listing ------------------------------------------------------------------------------


class TestList:
    async def test_it_shows_what_waits_oldest_first_with_text_and_reasons(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        first = await hold_message(account_id, "review one")
        second = await hold_message(account_id, "review two", numbers=["96550000009"])
        async with db_sessions() as session:
            views, next_after = await held_messages.list_held(
                session, viewer="Sara", purpose="test"
            )
        assert next_after is None
        assert [(v.msg_id, v.text, v.numbers) for v in views] == [
            (first, "review one", 3),
            (second, "review two", 1),
        ]
        view = views[0]
        assert (view.account, view.sender, view.points_charged, view.test) == (
            "shop",
            "MyShop",
            3,
            False,
        )
        assert view.reasons == [
            {"check": "review_words", "verdict": "hold", "reason": "a word that needs a look"}
        ]
        assert view.decision is None

    async def test_each_message_shown_is_logged_as_a_content_view(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        first = await hold_message(account_id, "review one")
        second = await hold_message(account_id, "review two", numbers=["96550000009"])
        async with db_sessions() as session:
            await held_messages.list_held(session, viewer="Sara", purpose="test")
            await session.commit()
        assert await content_views(db_sessions) == [
            ("Sara", first, "test"),
            ("Sara", second, "test"),
        ]

    async def test_nothing_shown_logs_nothing(self, db_sessions: SessionFactory) -> None:
        async with db_sessions() as session:
            assert await held_messages.list_held(session, viewer="Sara", purpose="t") == ([], None)
            await session.commit()
        assert await content_views(db_sessions) == []

    async def test_pages_and_the_account_filter(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        other = await register_account(db_sessions, "other", balance=100, senders=["MyShop"])
        ids = [
            await hold_message(account_id, "review", numbers=[f"9655000010{i}"]) for i in range(3)
        ]
        await hold_message(other, "review")
        async with db_sessions() as session:
            page, after = await held_messages.list_held(
                session, viewer="Sara", purpose="t", account="SHOP", limit=2
            )
            assert [v.msg_id for v in page] == ids[:2]
            assert after is not None
            rest, end = await held_messages.list_held(
                session, viewer="Sara", purpose="t", account="shop", after=after, limit=2
            )
            assert ([v.msg_id for v in rest], end) == (ids[2:], None)

    async def test_decided_messages_are_not_listed(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        await reject(db_sessions, msg_id)
        async with db_sessions() as session:
            assert await held_messages.list_held(session, viewer="Sara", purpose="t") == ([], None)

    async def test_show_finds_a_decided_one_and_logs_the_view(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        msg_id = await hold_message(account_id)
        await reject(db_sessions, msg_id, note="phishing")
        async with db_sessions() as session:
            view = await held_messages.show_held(session, msg_id, viewer="Sara", purpose="t")
            await session.commit()
            with pytest.raises(HeldMessageNotFound):
                await held_messages.show_held(session, "0" * 32, viewer="Sara", purpose="t")
        assert (view.decision, view.decided_by, view.decided_at) == ("rejected", "Sara", LATER)
        assert await content_views(db_sessions) == [("Sara", msg_id, "t")]


# --- releasing ---------------------------------------------------------------------------


class TestRelease:
    async def test_the_recipients_are_queued_for_dispatch(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        released = await release(db_sessions, memory_hot, msg_id)
        assert released.outcome.to_json() == {
            "msg_id": msg_id,
            "decision": "released",
            "recipients": 3,
            "points_refunded": 0,
            "balance_after": None,
        }
        async with db_sessions() as session:
            status = await session.scalar(select(Message.status).where(Message.msg_id == msg_id))
            events = list(
                await session.scalars(select(DeliveryEvent.state).order_by(DeliveryEvent.id))
            )
        assert status is MessageStatus.ACCEPTED
        assert await recipient_states(db_sessions, msg_id) == {RecipientState.QUEUED}
        assert events == [RecipientState.ACCEPTED] * 3 + [RecipientState.QUEUED] * 3
        items = await memory_hot.consume(DISPATCH_QUEUE, "test", count=10)
        assert [len(json_ids(item.payload)) for item in items] == [2, 1]
        assert await stored_balance(db_sessions, account_id) == 97  # still charged, once

    async def test_it_is_counted_by_the_abuse_checks_at_release_time(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
        pipeline: Pipeline,
        counter: Counter,
    ) -> None:
        msg_id = await hold_message(account_id)
        assert counter.sent == []
        await release(db_sessions, memory_hot, msg_id, pipeline)
        (sent,) = counter.sent
        assert (sent.account_id, sorted(sent.recipients), sent.now) == (
            account_id,
            sorted(NUMBERS),
            LATER.timestamp(),
        )

    async def test_the_decision_is_kept_with_who_and_why(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        await release(db_sessions, memory_hot, msg_id, note="a real bank notice")
        async with db_sessions() as session:
            hold = await session.scalar(select(MessageHold))
        assert hold is not None
        assert (hold.decision, hold.decided_by, hold.decided_at, hold.note) == (
            "released",
            "Sara",
            LATER,
            "a real bank notice",
        )

    async def test_a_test_message_is_released_but_never_queued(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id, test=True)
        await release(db_sessions, memory_hot, msg_id)
        assert await memory_hot.consume(DISPATCH_QUEUE, "test", count=10) == []

    async def test_a_message_is_decided_once(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        await release(db_sessions, memory_hot, msg_id)
        with pytest.raises(HeldMessageNotFound):
            await release(db_sessions, memory_hot, msg_id)
        with pytest.raises(HeldMessageNotFound):
            await reject(db_sessions, msg_id)
        assert await stored_balance(db_sessions, account_id) == 97

    async def test_an_unknown_or_accepted_message_is_not_found(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        accepted = await hold_message(account_id)
        async with db_sessions.begin() as session:
            await session.execute(update(Message).values(status=MessageStatus.ACCEPTED))
        for msg_id in (accepted, "f" * 32):
            with pytest.raises(HeldMessageNotFound):
                await release(db_sessions, memory_hot, msg_id)

    async def test_a_message_whose_text_was_removed_can_only_be_rejected(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        async with db_sessions.begin() as session:
            await session.execute(update(Message).values(text="", text_removed_at=LATER))
        with pytest.raises(TextRemoved):
            await release(db_sessions, memory_hot, msg_id)
        assert (await reject(db_sessions, msg_id)).points_refunded == 3


def json_ids(payload: bytes) -> list[int]:
    return list(json.loads(payload)["recipient_ids"])


# --- rejecting ---------------------------------------------------------------------------


class TestReject:
    async def test_recipients_are_rejected_and_the_charge_refunded(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        msg_id = await hold_message(account_id)
        assert await stored_balance(db_sessions, account_id) == 97
        outcome = await reject(db_sessions, msg_id, note="phishing")
        assert outcome.to_json() == {
            "msg_id": msg_id,
            "decision": "rejected",
            "recipients": 3,
            "points_refunded": 3,
            "balance_after": 100,
        }
        assert await stored_balance(db_sessions, account_id) == 100
        assert await recipient_states(db_sessions, msg_id) == {RecipientState.REJECTED}
        async with db_sessions() as session:
            message = await session.scalar(select(Message))
            assert message is not None
            assert message.status is MessageStatus.REJECTED
            reasons = set(await session.scalars(select(Recipient.reason)))
            assert reasons == {held_messages.REJECTED_REASON}
            refund = await session.scalar(select(CreditEntry).where(CreditEntry.reason == "refund"))
            assert refund is not None
            assert (refund.delta, refund.balance_after, refund.message_id) == (3, 100, message.id)

    async def test_a_test_message_refunds_nothing(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        msg_id = await hold_message(account_id, test=True)
        outcome = await reject(db_sessions, msg_id)
        assert (outcome.points_refunded, outcome.balance_after) == (0, None)
        async with db_sessions() as session:
            reasons = list(await session.scalars(select(CreditEntry.reason)))
        assert "refund" not in reasons

    async def test_racing_rejections_refund_once(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        msg_id = await hold_message(account_id)
        outcomes = await asyncio.gather(
            *(reject(db_sessions, msg_id) for _ in range(4)), return_exceptions=True
        )
        assert sum(isinstance(o, held_messages.ReviewOutcome) for o in outcomes) == 1
        assert all(
            isinstance(o, held_messages.ReviewOutcome | HeldMessageNotFound) for o in outcomes
        )
        assert await stored_balance(db_sessions, account_id) == 100
        async with db_sessions() as session:
            refunds = list(
                await session.scalars(select(CreditEntry.id).where(CreditEntry.reason == "refund"))
            )
        assert len(refunds) == 1

    async def test_a_note_over_the_limit_is_refused(
        self, db_sessions: SessionFactory, account_id: int, hold_message: HoldMessage
    ) -> None:
        msg_id = await hold_message(account_id)
        with pytest.raises(held_messages.HeldMessageError):
            await reject(db_sessions, msg_id, note="x" * (held_messages.MAX_NOTE_CHARS + 1))
        assert await recipient_states(db_sessions, msg_id) == {RecipientState.ACCEPTED}


# --- over HTTP ---------------------------------------------------------------------------

PATH = "/api/v1/held-messages"
HTTP_ENDPOINTS = [
    ("GET", PATH),
    ("GET", f"{PATH}/{'a' * 32}"),
    ("POST", f"{PATH}/{'a' * 32}/release"),
    ("POST", f"{PATH}/{'a' * 32}/reject"),
]


class TestHttp:
    @pytest.mark.parametrize(("method", "url"), HTTP_ENDPOINTS)
    async def test_only_staff_may_use_it(
        self, client: TestClient, db_sessions: SessionFactory, method: str, url: str
    ) -> None:
        assert (await client.request(method, url)).status == 401
        pipeline_token = await bearer(db_sessions, TokenRole.PIPELINE)
        assert (await call(client, method, url, pipeline_token, 403))["code"] == "forbidden"

    async def test_list_show_and_reject(
        self,
        client: TestClient,
        staff: dict[str, str],
        db_sessions: SessionFactory,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        page = await call(client, "GET", PATH, staff, 200)
        assert page["next"] is None
        (listed,) = page["held_messages"]
        assert (listed["msg_id"], listed["text"], listed["account"]) == (
            msg_id,
            "please review",
            "shop",
        )
        shown = await call(client, "GET", f"{PATH}/{msg_id}", staff, 200)
        assert shown == listed
        decided = await call(
            client, "POST", f"{PATH}/{msg_id}/reject", staff, 200, json={"note": "spam"}
        )
        assert (decided["decision"], decided["points_refunded"]) == ("rejected", 3)
        assert await content_views(db_sessions) == [
            ("Sara", msg_id, "api:held-messages"),
            ("Sara", msg_id, "api:held-messages"),
        ]
        again = await call(client, "POST", f"{PATH}/{msg_id}/reject", staff, 404)
        assert again["code"] == "held_message_not_found"

    async def test_release_queues_the_message(
        self,
        client: TestClient,
        staff: dict[str, str],
        db_sessions: SessionFactory,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        decided = await call(client, "POST", f"{PATH}/{msg_id}/release", staff, 200)
        assert (decided["decision"], decided["recipients"]) == ("released", 3)
        async with db_sessions() as session:
            status = await session.scalar(select(Message.status))
        assert status is MessageStatus.ACCEPTED
        # Queued, or already taken by the application's own dispatcher.
        assert RecipientState.ACCEPTED not in await recipient_states(db_sessions, msg_id)

    async def test_release_of_a_message_without_text_is_409(
        self,
        client: TestClient,
        staff: dict[str, str],
        db_sessions: SessionFactory,
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        async with db_sessions.begin() as session:
            await session.execute(update(Message).values(text="", text_removed_at=LATER))
        answer = await call(client, "POST", f"{PATH}/{msg_id}/release", staff, 409)
        assert answer["code"] == "text_removed"

    @pytest.mark.parametrize(
        ("method", "url"),
        [
            ("GET", f"{PATH}/{'a' * 32}"),
            ("GET", f"{PATH}/{'a' * 33}"),
            ("GET", f"{PATH}/not-an-id"),
            ("POST", f"{PATH}/{'a' * 32}/release"),
            ("POST", f"{PATH}/%00/reject"),
        ],
    )
    async def test_an_unknown_msg_id_is_404(
        self, client: TestClient, staff: dict[str, str], method: str, url: str
    ) -> None:
        answer = await call(client, method, url, staff, 404)
        assert answer["code"] == "held_message_not_found"

    @pytest.mark.parametrize(
        "query", ["limit=0", f"limit={held_messages.MAX_LIMIT + 1}", "after=x", "limit=1&limit=2"]
    )
    async def test_a_bad_query_is_400(
        self, client: TestClient, staff: dict[str, str], query: str
    ) -> None:
        answer = await call(client, "GET", f"{PATH}?{query}", staff, 400)
        assert answer["code"] == "invalid_query"

    async def test_a_bad_note_is_400(
        self,
        client: TestClient,
        staff: dict[str, str],
        account_id: int,
        hold_message: HoldMessage,
    ) -> None:
        msg_id = await hold_message(account_id)
        for body in ({"note": 5}, {"other": "x"}, {"note": "x" * 1001}):
            answer = await call(client, "POST", f"{PATH}/{msg_id}/reject", staff, 400, json=body)
            assert answer["code"] == "invalid_field"
