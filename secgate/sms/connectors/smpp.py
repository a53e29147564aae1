"""The SMPP 3.4 connector: one transceiver session to the operator's SMSC.

What goes on the wire:
- bind_transceiver with smpp_system_id / smpp_password / smpp_system_type. A bind
  the SMSC refuses at start (wrong password...) makes `start()` raise SmppBindError;
  an SMSC that cannot be reached at start is retried in the background.
- submit_sm per recipient: registered_delivery=1 (we want receipts); source TON/NPI
  5/0 for an alphanumeric sender, 1/1 for a number; destination 1/1; data_coding 0
  with the text as GSM 03.38 bytes (one septet per octet, unpacked, as SMPP carries
  them) or 8 with UTF-16-BE. At most smpp_window submit_sm wait for their response.
- A text longer than one page travels whole in the message_payload TLV and the SMSC
  splits it. We chose this over UDH concatenation because the SMSC then gives ONE
  message id and sends ONE receipt per message, which is what a Submission maps to;
  with UDH every part has its own id and receipt, to be joined back up here.
- deliver_sm with the delivery-receipt esm_class becomes a Receipt, taken from the
  receipted_message_id / message_state TLVs when present, else from the receipt text
  ("id:... stat:DELIVRD err:000 ..."). deliver_sm_resp is sent only after on_receipt
  returned: when it raises we answer ESME_RX_T_APPN (temporary error) and the SMSC
  delivers the receipt again, so no receipt is acknowledged that was not stored.
  Receipts are therefore at least once: on_receipt must accept a repeat.
- enquire_link every smpp_enquire_link_s; no answer within smpp_response_timeout_s
  means a dead link: the session is dropped, and rebuilt after smpp_reconnect_delay_s
  (as after any disconnect).

Why not smpp34.Client: it acknowledges every deliver_sm before the application sees
it (so a receipt we failed to store would be lost) and its enquire_link interval and
response timers are fixed. The session below is plain asyncio; `smpp34` encodes the
submit_sm and decodes the deliver_sm, and smpp_pdu.py frames the rest.

Not idempotent: SMPP has no idempotency key, so a submit_sm whose response was lost
(connection dropped, timeout) may or may not have been sent. Such a recipient is
reported refused with "outcome unknown: ..." rather than submitted a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import smpp34

from secgate.settings import Settings
from secgate.sms.connectors.protocol import (
    ConnectorStartError,
    ConnectorUnavailable,
    FinalState,
    Receipt,
    ReceiptHandler,
    Submission,
    SubmitResult,
)
from secgate.sms.connectors.smpp_pdu import (
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RX_P_APPN,
    ESME_RX_T_APPN,
    MAX_SEQUENCE,
    RESPONSE_BIT,
    Command,
    Pdu,
    ProtocolError,
    bind_transceiver_body,
    c_strings,
    describe_status,
    read_pdu,
)
from secgate.sms.encoding import GSM7_SINGLE_PAGE, UCS2_SINGLE_PAGE

log = logging.getLogger(__name__)

# GSM 03.38 default alphabet in code order (0x1B is the escape to the extension table).
_GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_CODES: dict[str, bytes] = {
    char: bytes([code]) for code, char in enumerate(_GSM7_TABLE) if char != "\x1b"
}
GSM7_CODES.update(
    (char, bytes([0x1B, code]))
    for char, code in {
        "\f": 0x0A,
        "^": 0x14,
        "{": 0x28,
        "}": 0x29,
        "\\": 0x2F,
        "[": 0x3C,
        "~": 0x3D,
        "]": 0x3E,
        "|": 0x40,
        "€": 0x65,
    }.items()
)

DATA_CODING_GSM7 = 0x00  # the SMSC default alphabet
DATA_CODING_UCS2 = 0x08
TON_INTERNATIONAL, NPI_ISDN = 1, 1
TON_ALPHANUMERIC, NPI_UNKNOWN = 5, 0
ESM_CLASS_TYPE_MASK = 0x3C
ESM_CLASS_DELIVERY_RECEIPT = 0x04

# message_state TLV values (SMPP 3.4 §5.2.28) and receipt "stat:" words that are final.
_MESSAGE_STATES: dict[int, FinalState] = {
    2: "delivered",
    3: "expired",
    4: "failed",
    5: "failed",
    8: "failed",
}
_STAT_WORDS: dict[str, FinalState] = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
}
_STATE_WORDS = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}
_RECEIPT_FIELD = re.compile(r"\b(id|stat|err):(\S*)", re.IGNORECASE)
# The receipt's "text:" (the message's first characters) comes last and may itself
# contain "id:" or "stat:"; only what precedes it is read.
_RECEIPT_TEXT = re.compile(r"\btext:", re.IGNORECASE)


class SmppBindError(ConnectorStartError):
    """The SMSC refused our bind_transceiver; the message names its command_status."""

    def __init__(self, system_id: str, status: int) -> None:
        self.status = status
        super().__init__(
            f"SMSC refused bind_transceiver for system_id {system_id!r}: {describe_status(status)}"
        )


class MalformedReceipt(ValueError):
    """A delivery receipt without a message id or a state we can read."""


class SessionClosed(Exception):
    """The SMPP session ended; the reason says how."""


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """A text as submit_sm carries it."""

    data_coding: int
    short_message: bytes  # empty when the text travels in message_payload
    tlvs: list[smpp34.Tlv]


def gsm7_bytes(text: str) -> bytes | None:
    """The text in the GSM 03.38 default alphabet, or None if a character is not in it."""
    try:
        return b"".join(GSM7_CODES[char] for char in text)
    except KeyError:
        return None


def short_message_for(text: str, encoding: str) -> ShortMessage:
    """Encode a text for submit_sm. A "gsm7" text with a character outside the
    alphabet goes as UCS-2: the recipient must get the text as written."""
    encoded = gsm7_bytes(text) if encoding == "gsm7" else None
    if encoded is not None:
        data_coding, single_page_bytes = DATA_CODING_GSM7, GSM7_SINGLE_PAGE
    else:
        encoded = text.encode("utf-16-be")
        data_coding, single_page_bytes = DATA_CODING_UCS2, UCS2_SINGLE_PAGE * 2
    if len(encoded) <= single_page_bytes:
        return ShortMessage(data_coding, encoded, [])
    return ShortMessage(data_coding, b"", [smpp34.Tlv(smpp34.TLV_MESSAGE_PAYLOAD, encoded)])


def source_ton_npi(sender: str) -> tuple[int, int]:
    if sender.isascii() and sender.isdigit():
        return TON_INTERNATIONAL, NPI_ISDN
    return TON_ALPHANUMERIC, NPI_UNKNOWN


def submit_sm_body(submission: Submission) -> bytes:
    ton, npi = source_ton_npi(submission.sender)
    message = short_message_for(submission.text, submission.encoding)
    pdu = smpp34.SubmitSm(
        submission.sender,
        submission.number,
        message.short_message,
        source_addr_ton=ton,
        source_addr_npi=npi,
        dest_addr_ton=TON_INTERNATIONAL,
        dest_addr_npi=NPI_ISDN,
        registered_delivery=1,
        data_coding=message.data_coding,
        tlvs=message.tlvs,
    )
    return pdu.encode()[16:]  # the session writes its own header and sequence number


def parse_receipt(deliver_sm: smpp34.DeliverSm, at: datetime) -> Receipt | None:
    """The final state a deliver_sm reports; None when it is not a final delivery
    receipt (a mobile-originated message, or an intermediate ENROUTE/ACCEPTD)."""
    if deliver_sm.esm_class & ESM_CLASS_TYPE_MASK != ESM_CLASS_DELIVERY_RECEIPT:
        return None
    tlvs = {tlv.tag: tlv for tlv in deliver_sm.tlvs}
    text_bytes = deliver_sm.short_message
    if not text_bytes and smpp34.TLV_MESSAGE_PAYLOAD in tlvs:
        text_bytes = tlvs[smpp34.TLV_MESSAGE_PAYLOAD].value
    fields: dict[str, str] = {}
    for match in _RECEIPT_FIELD.finditer(_RECEIPT_TEXT.split(text_bytes.decode("latin-1"))[0]):
        fields.setdefault(match[1].lower(), match[2])
    receipted_id = tlvs.get(smpp34.TLV_RECEIPTED_MESSAGE_ID)
    connector_ref = (receipted_id.as_string() if receipted_id else None) or fields.get("id")
    message_state = tlvs.get(smpp34.TLV_MESSAGE_STATE)
    state_code = message_state.as_int() if message_state else None
    if state_code is not None:
        stat = _STATE_WORDS.get(state_code, f"state {state_code}")
        state = _MESSAGE_STATES.get(state_code)
    else:
        stat = fields.get("stat", "").upper()
        state = _STAT_WORDS.get(stat)
    if not connector_ref or not stat:
        raise MalformedReceipt(f"receipt without message id or state: {text_bytes[:120]!r}")
    if state is None:
        return None
    error = None if state == "delivered" else f"{stat} err:{fields.get('err', '-')}"
    return Receipt(connector_ref=connector_ref, state=state, at=at, error=error)


class SmppSession:
    """One bound (or binding) TCP connection to the SMSC.

    The reader task matches responses to requests by sequence number and hands
    each deliver_sm to `on_deliver_sm`, whose returned status is sent back in the
    deliver_sm_resp. When the connection ends, for any reason, every waiting
    request fails with SessionClosed and `closed` is set.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        window: int,
        response_timeout_s: float,
        on_deliver_sm: Callable[[Pdu], Awaitable[int]],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._response_timeout_s = response_timeout_s
        self._on_deliver_sm = on_deliver_sm
        self._window = asyncio.Semaphore(window)
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._sequence = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the reader and the keep-alive
        self._deliveries: set[asyncio.Task[None]] = set()  # deliver_sm being stored
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._spawn(self._read_loop(), self._tasks)

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    async def request(self, command: Command, body: bytes = b"") -> Pdu:
        """Send a request and return its response (which may carry an error status).
        Raises SessionClosed, or TimeoutError when no response came in time."""
        if self.closed.is_set():
            raise SessionClosed(self.close_reason)
        sequence = self._next_sequence()
        response: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = response
        try:
            self._write(Pdu(command, ESME_ROK, sequence, body))
            async with asyncio.timeout(self._response_timeout_s):
                return await response
        finally:
            self._pending.pop(sequence, None)

    async def submit(self, body: bytes, sent: Callable[[], None]) -> Pdu:
        """submit_sm within the window; `sent` is called as the PDU is written."""
        async with self._window:
            if self.closed.is_set():
                raise SessionClosed(self.close_reason)
            sent()
            return await self.request(Command.SUBMIT_SM, body)

    def keep_alive(self, interval_s: float) -> None:
        self._spawn(self._enquire_link_loop(interval_s), self._tasks)

    async def unbind(self) -> None:
        """Let receipts being stored be answered, unbind, and close. A receipt still
        not stored after the response timeout is dropped unanswered: the SMSC
        sends it again on the next bind."""
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=self._response_timeout_s)
        with contextlib.suppress(SessionClosed, TimeoutError):
            await self.request(Command.UNBIND)
        for delivery in list(self._deliveries):
            delivery.cancel()
        await self.close("unbound")

    async def close(self, reason: str) -> None:
        """Drop the connection. Receipts being stored are left to finish: their
        answer cannot be sent any more, so the SMSC will send them again."""
        self._abort(reason)
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def _abort(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        self._writer.close()
        for response in self._pending.values():
            if not response.done():
                response.set_exception(SessionClosed(reason))

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % MAX_SEQUENCE + 1
        return self._sequence

    def _write(self, pdu: Pdu) -> None:
        if self.closed.is_set():
            raise SessionClosed(self.close_reason)
        # One write() per PDU: asyncio buffers it whole, so concurrent senders never
        # interleave bytes; a peer too slow to read shows up as a missing response.
        self._writer.write(pdu.encode())

    @staticmethod
    def _spawn(coroutine: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _read_loop(self) -> None:
        try:
            while True:
                self._dispatch(await read_pdu(self._reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            self._abort("connection closed by the SMSC")
        except ProtocolError as exc:
            self._abort(f"protocol error: {exc}")
        except OSError as exc:
            self._abort(f"connection error: {exc}")
        except SessionClosed:
            pass  # closed by the keep-alive while we were answering the SMSC

    def _dispatch(self, pdu: Pdu) -> None:
        if pdu.command_id & RESPONSE_BIT:
            response = self._pending.get(pdu.sequence)
            if response is not None and not response.done():
                response.set_result(pdu)
        elif pdu.command_id == Command.DELIVER_SM:
            # Stored concurrently: a slow store must not hold up submit_sm_resps.
            self._spawn(self._answer_deliver_sm(pdu), self._deliveries)
        elif pdu.command_id == Command.ENQUIRE_LINK:
            self._write(Pdu(Command.ENQUIRE_LINK_RESP, ESME_ROK, pdu.sequence, b""))
        elif pdu.command_id == Command.UNBIND:
            self._write(Pdu(Command.UNBIND_RESP, ESME_ROK, pdu.sequence, b""))
            self._abort("unbound by the SMSC")
        else:
            self._write(Pdu(Command.GENERIC_NACK, ESME_RINVCMDID, pdu.sequence, b""))

    async def _answer_deliver_sm(self, pdu: Pdu) -> None:
        status = await self._on_deliver_sm(pdu)
        with contextlib.suppress(SessionClosed):
            # message_id is unused in deliver_sm_resp: an empty C-string.
            self._write(Pdu(Command.DELIVER_SM_RESP, status, pdu.sequence, b"\x00"))

    async def _enquire_link_loop(self, interval_s: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval_s)
            try:
                await self.request(Command.ENQUIRE_LINK)
            except SessionClosed:
                return
            except TimeoutError:
                self._abort(f"no enquire_link_resp within {self._response_timeout_s}s")
                return


class SmppConnector:
    name = "smpp"
    idempotent = False  # SMPP has no idempotency key (see the module docstring)

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._settings = settings
        self._clock = clock  # stamps receipts: SMSC "done date"s carry no time zone
        self._on_receipt: ReceiptHandler | None = None
        self._session: SmppSession | None = None
        self._keeper: asyncio.Task[None] | None = None

    @property
    def bound(self) -> bool:
        return self._session is not None and self._session.is_open

    async def start(self, on_receipt: ReceiptHandler) -> None:
        """Bind, then keep the session up in the background. Raises SmppBindError
        if the SMSC refuses the first bind; an unreachable SMSC is retried."""
        self._on_receipt = on_receipt
        first_attempt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._keeper = asyncio.create_task(self._keep_bound(first_attempt))
        await first_attempt

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        session = self._session
        if session is None or not session.is_open:
            raise ConnectorUnavailable(self._unavailable_reason())
        outcomes = await asyncio.gather(*(self._submit_one(session, item) for item in batch))
        if batch and not any(written for _, written in outcomes):
            # The session died before the first submit_sm went out: nothing was sent.
            raise ConnectorUnavailable(self._unavailable_reason())
        return [result for result, _ in outcomes]

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        session, self._session = self._session, None
        if session is not None:
            await session.unbind()

    def _unavailable_reason(self) -> str:
        s = self._settings
        return f"not bound to the SMSC at {s.smpp_host}:{s.smpp_port}"

    async def _submit_one(
        self, session: SmppSession, item: Submission
    ) -> tuple[SubmitResult, bool]:
        """The result, and whether the submit_sm was written to the SMSC at all."""
        written = False

        def mark_written() -> None:
            nonlocal written
            written = True

        try:
            response = await session.submit(submit_sm_body(item), mark_written)
        except SessionClosed as exc:
            outcome = "outcome unknown" if written else "not sent"
            return self._refused(item, f"{outcome}: {exc}"), written
        except TimeoutError:
            timeout = self._settings.smpp_response_timeout_s
            return self._refused(
                item, f"outcome unknown: no submit_sm_resp within {timeout}s"
            ), True
        if response.status != ESME_ROK:
            return self._refused(item, describe_status(response.status)), True
        (message_id,), _ = c_strings(response.body, 1)
        return SubmitResult(item.recipient_id, accepted=True, connector_ref=message_id), True

    @staticmethod
    def _refused(item: Submission, error: str) -> SubmitResult:
        return SubmitResult(item.recipient_id, accepted=False, connector_ref=None, error=error)

    async def _keep_bound(self, first_attempt: asyncio.Future[None]) -> None:
        try:
            await self._keep_bound_forever(first_attempt)
        finally:
            if not first_attempt.done():  # closed while start() still waited
                first_attempt.cancel()

    async def _keep_bound_forever(self, first_attempt: asyncio.Future[None]) -> None:
        s = self._settings
        while True:
            try:
                session = await self._bind()
            except SmppBindError as exc:
                if not first_attempt.done():
                    first_attempt.set_exception(exc)
                    return
                log.error("%s; retrying in %ss", exc, s.smpp_reconnect_delay_s)
            except (OSError, TimeoutError, SessionClosed) as exc:
                log.warning(
                    "SMSC %s:%s unreachable (%s); retrying in %ss",
                    s.smpp_host,
                    s.smpp_port,
                    str(exc) or type(exc).__name__,
                    s.smpp_reconnect_delay_s,
                )
            else:
                self._session = session
                log.info("bound to SMSC %s:%s as %r", s.smpp_host, s.smpp_port, s.smpp_system_id)
                if not first_attempt.done():
                    first_attempt.set_result(None)
                await session.closed.wait()
                self._session = None
                log.warning("SMPP session lost: %s", session.close_reason)
                await session.close(session.close_reason)
            if not first_attempt.done():
                first_attempt.set_result(None)
            await asyncio.sleep(s.smpp_reconnect_delay_s)

    async def _bind(self) -> SmppSession:
        s = self._settings
        async with asyncio.timeout(s.smpp_response_timeout_s):
            reader, writer = await asyncio.open_connection(s.smpp_host, s.smpp_port)
        session = SmppSession(
            reader,
            writer,
            window=s.smpp_window,
            response_timeout_s=s.smpp_response_timeout_s,
            on_deliver_sm=self._take_deliver_sm,
        )
        try:
            body = bind_transceiver_body(s.smpp_system_id, s.smpp_password, s.smpp_system_type)
            response = await session.request(Command.BIND_TRANSCEIVER, body)
            if response.command_id != Command.BIND_TRANSCEIVER_RESP or response.status != ESME_ROK:
                raise SmppBindError(s.smpp_system_id, response.status)
        except BaseException:
            await session.close("bind failed")
            raise
        session.keep_alive(s.smpp_enquire_link_s)
        return session

    async def _take_deliver_sm(self, pdu: Pdu) -> int:
        """The deliver_sm_resp status: OK once the receipt is stored (or when there
        is nothing to store), a temporary error when storing failed."""
        try:
            deliver_sm = smpp34.decode(pdu.encode())
            if not isinstance(deliver_sm, smpp34.DeliverSm):
                raise MalformedReceipt("not a deliver_sm")
            receipt = parse_receipt(deliver_sm, self._clock())
        except (smpp34.SmppError, MalformedReceipt) as exc:
            # Sent again it would fail again: refuse it for good, loudly.
            log.error("unreadable deliver_sm refused: %s", exc)
            return ESME_RX_P_APPN
        if receipt is None:
            return ESME_ROK
        assert self._on_receipt is not None
        try:
            await self._on_receipt(receipt)
        except Exception:
            log.exception(
                "receipt for %s not stored; the SMSC will send it again", receipt.connector_ref
            )
            return ESME_RX_T_APPN
        return ESME_ROK
