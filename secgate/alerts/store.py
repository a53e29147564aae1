"""Security alerts: raising them (folding repeats), listing them, acknowledging and
resolving them.

Every part of the gateway raises alerts through the one `AlertSink` of the
application (`app[appkeys.ALERTS]`):

    await sink.raise_alert(type="login.bruteforce", severity=AlertSeverity.HIGH,
                           account_id=account.id, ip=client_ip)

Folding: a repeat of the same type and subject (by default the account, else the IP
address, else "global") whose time is at most `settings.alert_fold_window_s` after
the alert's `last_seen` (the window end is inclusive) adds to that alert's `count`
instead of making a new row. A repeat after the window, or after the alert was
resolved, starts a new alert; acknowledging an alert does not stop it folding.

The database is the source of truth. Each stored alert is then published on the
hot-state channel `alerts` for live subscribers; a publish that fails is logged and
does not undo the alert, which stays listed here.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.accounts.registry import username_key
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, Alert, AlertSeverity, AlertStatus

log = logging.getLogger("secgate.alerts")

ALERTS_CHANNEL = "alerts"

MAX_TYPE_CHARS = 64  # Alert.type
# Dotted lowercase words, e.g. "login.bruteforce", "sms.sender_id_blocked".
TYPE_PATTERN = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
_TYPE = re.compile(TYPE_PATTERN)
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Alert.fold_key is "<type>|<subject>" in 255 characters.
MAX_SUBJECT_CHARS = 255 - MAX_TYPE_CHARS - 1
# details["notes"] holds what staff wrote when acknowledging or resolving.
NOTES_KEY = "notes"
MAX_NOTE_CHARS = 1000

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# Alert ids are signed 64-bit integers on PostgreSQL.
MAX_ALERT_ID = 2**63 - 1

_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(AlertSeverity)}
_STATUS_RANK = {status: rank for rank, status in enumerate(AlertStatus)}


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as staff see it (CONTRACT §4.4)."""

    id: int
    type: str
    severity: AlertSeverity
    status: AlertStatus
    account: str | None  # the username
    ip: str | None
    country: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity.value,
            "status": self.status.value,
            "account": self.account,
            "ip": self.ip,
            "country": self.country,
            "count": self.count,
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "details": self.details,
        }


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a "Z", always to the microsecond, so every value has one shape."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One raising of an alert, checked and normalised; also what is logged if it
    cannot be stored."""

    type: str
    severity: AlertSeverity
    account_id: int | None
    ip: str | None
    country: str | None
    details: dict[str, Any]
    fold_key: str
    seen: datetime


class AlertSink:
    """Raises alerts: stores them, folding repeats, then publishes them to live
    subscribers. One per application; safe to share between tasks, as each raise uses
    a session of its own."""

    def __init__(
        self,
        sessions: SessionFactory,
        hot: HotState,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._hot = hot
        self._fold_window = timedelta(seconds=settings.alert_fold_window_s)
        self._clock = clock

    async def raise_alert(
        self,
        *,
        type: str,
        severity: AlertSeverity,
        account_id: int | None = None,
        ip: str | None = None,
        country: str | None = None,
        details: Mapping[str, Any] | None = None,
        subject: str | None = None,
    ) -> AlertView:
        """Record an alert, or fold it into a recent one of the same type and subject,
        and return it as stored. Invalid arguments raise ValueError (a bug in the
        caller). If the database fails, the alert is logged in full as
        `alert_not_stored` and the error propagates."""
        occurrence = _occurrence(
            type=type,
            severity=severity,
            account_id=account_id,
            ip=ip,
            country=country,
            details=details,
            subject=subject,
            seen=datetime.fromtimestamp(self._clock(), UTC),
        )
        try:
            view = await self._store(occurrence)
        except Exception:
            log.exception("alert_not_stored", extra={"alert": _loggable(occurrence)})
            raise
        await self._publish(view)
        return view

    async def _store(self, occurrence: _Occurrence) -> AlertView:
        async with self._sessions() as session, session.begin():
            # The first statement writes, which takes the lock (the row's on PostgreSQL,
            # the database's on SQLite) before anything is read. A stale alert gives up
            # its fold key, so that the insert below starts a new one.
            await session.execute(
                update(Alert)
                .where(
                    Alert.fold_key == occurrence.fold_key,
                    Alert.last_seen < occurrence.seen - self._fold_window,
                )
                .values(fold_key=None)
            )
            # Insert, or count a repeat: the unique fold key makes this one atomic step,
            # even for processes raising the same alert at the same moment.
            alert = await session.scalar(
                _insert_or_count(session, occurrence),
                execution_options={"populate_existing": True},
            )
            assert alert is not None  # RETURNING always gives the row
            if alert.count > 1:
                # The upsert has locked the row, so no other repeat can slip in between.
                _take_latest(alert, occurrence)
            account = await _username(session, alert.account_id)
        return _view(alert, account)

    async def _publish(self, view: AlertView) -> None:
        message = json.dumps(view.to_json(), ensure_ascii=False).encode()
        try:
            await self._hot.publish(ALERTS_CHANNEL, message)
        except HotStateUnavailable:
            # Live subscribers miss this one; the alert itself is stored and listed.
            log.warning("alert_not_published", extra={"alert_id": view.id}, exc_info=True)


def _occurrence(
    *,
    type: str,
    severity: AlertSeverity,
    account_id: int | None,
    ip: str | None,
    country: str | None,
    details: Mapping[str, Any] | None,
    subject: str | None,
    seen: datetime,
) -> _Occurrence:
    if len(type) > MAX_TYPE_CHARS or not _TYPE.fullmatch(type):
        raise ValueError(f"alert type {type!r} is not dotted lowercase words")
    details = dict(details or {})
    if NOTES_KEY in details:
        raise ValueError(f"details[{NOTES_KEY!r}] is reserved for staff notes")
    if ip is not None:
        # Canonical form, so that one address cannot appear as two subjects.
        ip = str(ipaddress.ip_address(ip))
    if country is not None and not _COUNTRY.fullmatch(country):
        raise ValueError(f"country {country!r} is not an ISO 3166-1 alpha-2 code")
    if subject is None:
        subject = _default_subject(account_id, ip)
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"alert subject is longer than {MAX_SUBJECT_CHARS} characters")
    return _Occurrence(
        type=type,
        severity=AlertSeverity(severity),
        account_id=account_id,
        ip=ip,
        country=country.upper() if country else None,
        details=details,
        fold_key=f"{type}|{subject}",
        seen=seen,
    )


def _default_subject(account_id: int | None, ip: str | None) -> str:
    if account_id is not None:
        return f"account:{account_id}"
    if ip is not None:
        return f"ip:{ip}"
    return "global"


def _insert_or_count(session: AsyncSession, occurrence: _Occurrence) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Alert).values(
        type=occurrence.type,
        severity=occurrence.severity,
        status=AlertStatus.OPEN,
        account_id=occurrence.account_id,
        ip=occurrence.ip,
        country=occurrence.country,
        fold_key=occurrence.fold_key,
        count=1,
        first_seen=occurrence.seen,
        last_seen=occurrence.seen,
        details=occurrence.details,
    )
    # A raiser that waited for the lock may carry an earlier time than the stored one.
    later_seen = case(
        (Alert.last_seen < statement.excluded.last_seen, statement.excluded.last_seen),
        else_=Alert.last_seen,
    )
    return statement.on_conflict_do_update(
        index_elements=[Alert.fold_key],
        set_={Alert.count: Alert.count + 1, Alert.last_seen: later_seen},
    ).returning(Alert)


def _take_latest(alert: Alert, occurrence: _Occurrence) -> None:
    """Fold a repeat's particulars into the alert: the latest details win key by key,
    the latest address is shown, and a more severe repeat raises the severity."""
    alert.details = {**alert.details, **occurrence.details}
    alert.ip = occurrence.ip or alert.ip
    alert.country = occurrence.country or alert.country
    if _SEVERITY_RANK[occurrence.severity] > _SEVERITY_RANK[alert.severity]:
        alert.severity = occurrence.severity


async def list_alerts(
    session: AsyncSession,
    *,
    type: str | None = None,
    severity: AlertSeverity | None = None,
    status: AlertStatus | None = None,
    account: str | None = None,
    after_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[AlertView], int | None]:
    """Alerts matching every filter given, newest first (by id, i.e. by when each was
    first raised), and the cursor for the next page: pass it as `after_id` to get the
    alerts that come after the last one returned; None on the last page.

    `account` is a username (matched as logins match it, case-insensitively)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be within 1..{MAX_LIMIT}")
    query = select(Alert, Account.username).outerjoin(Account, Account.id == Alert.account_id)
    conditions: list[ColumnElement[bool]] = []
    if type is not None:
        conditions.append(Alert.type == type)
    if severity is not None:
        conditions.append(Alert.severity == severity)
    if status is not None:
        conditions.append(Alert.status == status)
    if account is not None:
        conditions.append(Account.username_key == username_key(account))
    if after_id is not None:
        conditions.append(Alert.id < after_id)
    rows = (
        await session.execute(query.where(*conditions).order_by(Alert.id.desc()).limit(limit + 1))
    ).all()
    views = [_view(alert, username) for alert, username in rows[:limit]]
    next_id = views[-1].id if len(rows) > limit else None
    return views, next_id


async def set_status(
    session: AsyncSession,
    alert_id: int,
    status: AlertStatus,
    *,
    note: str | None = None,
    by: str = "",
    now: datetime | None = None,
) -> AlertView | None:
    """Acknowledge or resolve an alert, adding staff's `note` (if any) to
    details["notes"] with who wrote it and when. None when there is no such alert.
    The caller commits.

    Status only moves forward (open → acknowledged → resolved): acknowledging a
    resolved alert leaves it resolved. A resolved alert takes no more repeats."""
    if status is AlertStatus.OPEN:
        raise ValueError("alerts are never reopened; a repeat starts a new one")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note is longer than {MAX_NOTE_CHARS} characters")
    if not 1 <= alert_id <= MAX_ALERT_ID:
        return None
    status_column = Alert.__table__.c.status
    already_there = [s for s in AlertStatus if _STATUS_RANK[s] >= _STATUS_RANK[status]]
    values: dict[Any, Any] = {
        Alert.status: case(
            (Alert.status.in_(already_there), Alert.status),
            else_=literal(status, status_column.type),
        )
    }
    if status is AlertStatus.RESOLVED:
        values[Alert.fold_key] = None
    # Writing first locks the alert, so the read-modify-write of its details below
    # cannot lose a repeat folded in at the same moment.
    alert = await session.scalar(
        update(Alert).where(Alert.id == alert_id).values(values).returning(Alert),
        execution_options={"populate_existing": True},
    )
    if alert is None:
        return None
    if note:
        entry = {
            "by": by,
            "at": iso_utc(now or datetime.now(UTC)),
            "status": status.value,
            "note": note,
        }
        alert.details = {**alert.details, NOTES_KEY: [*alert.details.get(NOTES_KEY, []), entry]}
        await session.flush()
    return _view(alert, await _username(session, alert.account_id))


async def _username(session: AsyncSession, account_id: int | None) -> str | None:
    if account_id is None:
        return None
    return await session.scalar(select(Account.username).where(Account.id == account_id))


def _view(alert: Alert, account: str | None) -> AlertView:
    return AlertView(
        id=alert.id,
        type=alert.type,
        severity=alert.severity,
        status=alert.status,
        account=account,
        ip=alert.ip,
        country=alert.country,
        count=alert.count,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        details=alert.details,
    )


def _loggable(occurrence: _Occurrence) -> dict[str, Any]:
    fields = asdict(occurrence)
    fields["severity"] = occurrence.severity.value
    fields["seen"] = iso_utc(occurrence.seen)
    return fields
