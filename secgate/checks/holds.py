"""Why a message is held: the `MessageHold` row the send path writes with a HELD message.

Apart from `secgate.checks.held_messages` (the review queue) because the send path
writes it, and the review side imports the dispatcher, which imports the send path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.checks.verdict import Decision
from secgate.storage.models import MessageHold

_holds = MessageHold.__table__


async def record_hold(
    session: AsyncSession, message_id: int, decision: Decision, at: datetime
) -> None:
    """Keep why a message is held, in the transaction that stores it HELD."""
    await session.execute(
        insert(_holds),
        {
            "message_id": message_id,
            "reasons": decision.reasons,
            "spam_score": decision.spam_score,
            "held_at": at,
        },
    )
