"""The SMPP connector against a real SMSC process (tests/sms/connectors/smpp_server.py,
built on smpp34.Server), plus the receipt parser and the GSM 03.38 table on their own."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import smpp34
from smsc_process import PASSWORD, SYSTEM_ID, SmscProcess, free_port

from secgate.settings import Settings
from secgate.sms.connectors.protocol import (
    ConnectorUnavailable,
    FinalState,
    Receipt,
    Submission,
)
from secgate.sms.connectors.smpp import (
    GSM7_CODES,
    MalformedReceipt,
    SmppBindError,
    SmppConnector,
    parse_receipt,
)
from secgate.sms.connectors.smpp_pdu import describe_status
from secgate.sms.encoding import GSM7_CHARS

REPO = Path(__file__).resolve().parents[3]
GEOIP_TEST_DB = REPO.parent / "shared" / "fixtures" / "geoip" / "GeoIP2-City-Test.mmdb"
FIXED_NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class ReceiptStore:
    """An on_receipt that keeps receipts, and can be made to fail or to wait."""

    def __init__(self, failures: int = 0) -> None:
        self.receipts: list[Receipt] = []
        self.failures_left = failures
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, receipt: Receipt) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("database unavailable")
        self.receipts.append(receipt)


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    # Polled: the connector signals no event when it binds or loses its session.
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def message(recipient_id: int = 1, number: str = "96550000001", **changes: Any) -> Submission:
    fields: dict[str, Any] = {"sender": "SecGate", "text": "Hello", "encoding": "gsm7"}
    fields.update(changes)
    return Submission(recipient_id=recipient_id, number=number, **fields)


@pytest.fixture
async def start_smsc() -> AsyncIterator[Callable[..., Awaitable[SmscProcess]]]:
    processes: list[SmscProcess] = []

    async def start(*options: str) -> SmscProcess:
        process = SmscProcess(*options)
        processes.append(process)
        await process.start()
        return process

    yield start
    for process in processes:
        await process.kill()


@pytest.fixture
async def smsc(start_smsc: Callable[..., Awaitable[SmscProcess]]) -> SmscProcess:
    return await start_smsc()


@pytest.fixture
def smpp_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(smsc: SmscProcess, **changes: Any) -> Settings:
        values: dict[str, Any] = {
            "smpp_port": smsc.port,
            "smpp_system_id": SYSTEM_ID,
            "smpp_password": PASSWORD,
            "smpp_system_type": "SECGATE",
            "smpp_enquire_link_s": 5.0,
            "smpp_reconnect_delay_s": 0.05,
            "smpp_response_timeout_s": 1.0,
        }
        values.update(changes)
        return make_settings(**values)

    return make


@pytest.fixture
async def open_connector(
    smpp_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[SmppConnector]]]:
    connectors: list[SmppConnector] = []

    async def open_(
        smsc: SmscProcess, store: ReceiptStore | None = None, **changes: Any
    ) -> SmppConnector:
        connector = SmppConnector(smpp_settings(smsc, **changes), clock=lambda: FIXED_NOW)
        connectors.append(connector)
        await connector.start(store or ReceiptStore())
        return connector

    yield open_
    for connector in connectors:
        await connector.close()


OpenConnector = Callable[..., Awaitable[SmppConnector]]
StartSmsc = Callable[..., Awaitable[SmscProcess]]


# -- binding ------------------------------------------------------------------------


async def test_binds_as_transceiver_with_the_configured_credentials(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    assert connector.bound
    assert smsc.of("bind") == [
        {"event": "bind", "system_id": SYSTEM_ID, "system_type": "SECGATE", "accepted": True}
    ]


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ({"smpp_password": "wrong"}, "ESME_RINVPASWD (0x0000000E)"),
        ({"smpp_system_id": "someone"}, "ESME_RINVSYSID (0x0000000F)"),
    ],
)
async def test_refused_bind_fails_start_naming_the_smpp_status(
    smsc: SmscProcess,
    smpp_settings: Callable[..., Settings],
    credentials: dict[str, str],
    status: str,
) -> None:
    connector = SmppConnector(smpp_settings(smsc, **credentials))

    with pytest.raises(SmppBindError, match="refused bind_transceiver") as refused:
        await connector.start(ReceiptStore())

    assert status in str(refused.value)
    assert not connector.bound
    with pytest.raises(ConnectorUnavailable):
        await connector.submit([message()])
    await connector.close()


async def test_unreachable_smsc_at_start_is_bound_once_it_comes_up(
    open_connector: OpenConnector,
) -> None:
    smsc = SmscProcess()  # its port is free: nothing listens yet
    connector = await open_connector(smsc)

    assert not connector.bound
    with pytest.raises(ConnectorUnavailable):
        await connector.submit([message()])

    await smsc.start()
    try:
        await eventually(lambda: connector.bound)
        [result] = await connector.submit([message()])
        assert result.accepted
    finally:
        await smsc.kill()


# -- submitting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "ton", "npi"),
    [("SecGate", 5, 0), ("KW-Bank 1", 5, 0), ("96550000002", 1, 1)],
)
async def test_source_address_type_follows_the_sender(
    smsc: SmscProcess, open_connector: OpenConnector, sender: str, ton: int, npi: int
) -> None:
    connector = await open_connector(smsc)

    await connector.submit([message(sender=sender)])

    [submit] = smsc.of("submit_sm")
    assert (submit["source_addr"], submit["source_addr_ton"], submit["source_addr_npi"]) == (
        sender,
        ton,
        npi,
    )
    assert (submit["destination_addr"], submit["dest_addr_ton"], submit["dest_addr_npi"]) == (
        "96550000001",
        1,
        1,
    )
    assert submit["registered_delivery"] == 1
    assert submit["esm_class"] == 0


async def test_gsm7_text_goes_as_gsm_03_38_bytes_with_data_coding_0(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    await connector.submit([message(text="@£ Hi {€}ü\n", encoding="gsm7")])

    [submit] = smsc.of("submit_sm")
    assert submit["data_coding"] == 0
    # @=00 £=01 space=20 H=48 i=69 space=20 {=1B28 €=1B65 }=1B29 ü=7E LF=0A
    assert submit["short_message"] == "0001204869201b281b651b297e0a"


async def test_ucs2_text_goes_as_utf16_be_with_data_coding_8(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    await connector.submit([message(text="مرحبا 😀", encoding="ucs2")])

    [submit] = smsc.of("submit_sm")
    assert submit["data_coding"] == 8
    assert bytes.fromhex(submit["short_message"]) == "مرحبا 😀".encode("utf-16-be")


async def test_text_declared_gsm7_with_a_character_outside_the_alphabet_goes_as_ucs2(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    await connector.submit([message(text="Привет", encoding="gsm7")])

    [submit] = smsc.of("submit_sm")
    assert submit["data_coding"] == 8
    assert bytes.fromhex(submit["short_message"]) == "Привет".encode("utf-16-be")


@pytest.mark.parametrize(
    ("text", "encoding", "in_payload"),
    [
        ("a" * 159, "gsm7", False),
        ("a" * 160, "gsm7", False),
        ("a" * 161, "gsm7", True),
        ("€" * 80, "gsm7", False),  # 160 septets
        ("a" + "€" * 80, "gsm7", True),  # 161 septets
        ("ب" * 69, "ucs2", False),
        ("ب" * 70, "ucs2", False),
        ("ب" * 71, "ucs2", True),
        ("😀" * 35, "ucs2", False),  # 70 UTF-16 code units
        ("😀" * 35 + "ب", "ucs2", True),
        ("a" * 918, "gsm7", True),  # six pages
    ],
)
async def test_one_page_goes_in_short_message_and_longer_text_whole_in_message_payload(
    smsc: SmscProcess, open_connector: OpenConnector, text: str, encoding: str, in_payload: bool
) -> None:
    connector = await open_connector(smsc)

    [result] = await connector.submit([message(text=text, encoding=encoding)])

    assert result.accepted
    [submit] = smsc.of("submit_sm")
    if encoding == "gsm7":
        encoded = b"".join(GSM7_CODES[char] for char in text)
    else:
        encoded = text.encode("utf-16-be")
    if in_payload:
        assert submit["short_message"] == ""
        assert bytes.fromhex(submit["message_payload"]) == encoded
    else:
        assert submit["message_payload"] is None
        assert bytes.fromhex(submit["short_message"]) == encoded
    assert submit["esm_class"] == 0  # no UDH: the SMSC splits message_payload itself


async def test_results_carry_the_smsc_message_ids_in_batch_order(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)
    batch = [message(recipient_id=i, number=f"9655000000{i}") for i in range(1, 6)]

    results = await connector.submit(batch)

    assert [r.recipient_id for r in results] == [1, 2, 3, 4, 5]
    ids_by_number = {s["destination_addr"]: s["message_id"] for s in smsc.of("submit_sm")}
    assert [r.connector_ref for r in results] == [ids_by_number[m.number] for m in batch]
    assert all(r.accepted and r.error is None for r in results)


async def test_submit_refused_by_the_smsc_is_rejected_naming_the_status(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    refused, accepted = await connector.submit(
        [message(1, number="96550001000"), message(2, number="96550000001")]
    )

    assert not refused.accepted
    assert refused.connector_ref is None
    assert refused.error == "ESME_RINVDSTADR (0x0000000B)"
    assert accepted.accepted


@pytest.mark.parametrize("window", [1, 3])
async def test_no_more_than_the_window_of_submits_wait_for_a_response(
    start_smsc: StartSmsc, open_connector: OpenConnector, window: int
) -> None:
    smsc = await start_smsc("--submit-delay-s", "0.05")
    connector = await open_connector(smsc, smpp_window=window)
    batch = [message(recipient_id=i, number=f"9655000001{i}") for i in range(7)]

    results = await connector.submit(batch)

    assert all(r.accepted for r in results)
    assert max(s["in_flight"] for s in smsc.of("submit_sm")) == window


async def test_empty_batch_submits_nothing(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)

    assert await connector.submit([]) == []
    assert smsc.of("submit_sm_received") == []


def test_smpp_connector_is_not_idempotent() -> None:
    # SMPP has no idempotency key: the dispatcher must not resubmit stale claims.
    assert SmppConnector.idempotent is False
    assert SmppConnector.name == "smpp"


# -- receipts -------------------------------------------------------------------------


@pytest.mark.parametrize("receipt_format", ["tlv", "text-only"])
@pytest.mark.parametrize(
    ("number", "state", "error"),
    [
        ("96550000001", "delivered", None),
        ("96550000009", "failed", "UNDELIV err:001"),
        ("96550000007", "failed", "REJECTD err:001"),
        ("96550000008", "expired", "EXPIRED err:001"),
    ],
)
async def test_delivery_receipt_becomes_a_receipt_with_the_final_state(
    start_smsc: StartSmsc,
    open_connector: OpenConnector,
    receipt_format: str,
    number: str,
    state: FinalState,
    error: str | None,
) -> None:
    options = ("--text-only-receipts",) if receipt_format == "text-only" else ()
    smsc = await start_smsc(*options)
    store = ReceiptStore()
    connector = await open_connector(smsc, store)

    [result] = await connector.submit([message(number=number)])
    await eventually(lambda: len(store.receipts) == 1)

    assert store.receipts == [
        Receipt(connector_ref=result.connector_ref or "", state=state, at=FIXED_NOW, error=error)
    ]
    await smsc.wait_for(lambda s: len(s.of("deliver_sm")) == 1)
    assert smsc.of("deliver_sm")[0]["status"] == 0


async def test_receipt_not_stored_is_refused_so_the_smsc_delivers_it_again(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    store = ReceiptStore(failures=2)
    connector = await open_connector(smsc, store)

    [result] = await connector.submit([message()])
    await eventually(lambda: len(store.receipts) == 1)

    await smsc.wait_for(lambda s: len(s.of("deliver_sm")) == 3)
    assert store.calls == 3
    assert [r.connector_ref for r in store.receipts] == [result.connector_ref]
    # ESME_RX_T_APPN (temporary application error) twice, then acknowledged.
    assert [d["status"] for d in smsc.of("deliver_sm")] == [0x64, 0x64, 0]


async def test_receipt_is_acknowledged_only_once_stored_without_holding_up_submits(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    store = ReceiptStore()
    store.gate = asyncio.Event()
    connector = await open_connector(smsc, store)

    await connector.submit([message(1)])
    await eventually(lambda: store.calls == 1)
    [second] = await connector.submit([message(2, number="96550000002")])

    assert second.accepted
    assert smsc.of("deliver_sm") == []  # the first receipt is not answered yet
    store.gate.set()
    await smsc.wait_for(lambda s: len(s.of("deliver_sm")) == 2)
    assert [d["status"] for d in smsc.of("deliver_sm")] == [0, 0]
    assert len(store.receipts) == 2


# -- keeping the session --------------------------------------------------------------


async def test_enquire_link_keeps_an_idle_session_bound(
    start_smsc: StartSmsc, open_connector: OpenConnector
) -> None:
    smsc = await start_smsc("--inactivity-s", "0.3")
    connector = await open_connector(smsc, smpp_enquire_link_s=0.1)

    await smsc.wait_for(lambda s: len(s.of("enquire_link")) >= 6)  # twice the inactivity time

    assert smsc.of("inactivity_drop") == []
    assert len(smsc.of("bind")) == 1
    [result] = await connector.submit([message()])
    assert result.accepted


async def test_session_dropped_by_the_smsc_is_bound_again(
    start_smsc: StartSmsc, open_connector: OpenConnector
) -> None:
    smsc = await start_smsc("--inactivity-s", "0.2")
    connector = await open_connector(smsc, smpp_enquire_link_s=60.0)

    await smsc.wait_for(lambda s: len(s.of("inactivity_drop")) == 1 and len(s.of("bind")) == 2)
    await eventually(lambda: connector.bound)

    [result] = await connector.submit([message()])
    assert result.accepted


async def test_silent_smsc_is_detected_by_enquire_link_and_bound_again_when_it_answers(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc, smpp_enquire_link_s=0.05, smpp_response_timeout_s=0.2)

    smsc.pause()
    try:
        await eventually(lambda: not connector.bound)
        with pytest.raises(ConnectorUnavailable):
            await connector.submit([message()])
    finally:
        smsc.resume()

    await eventually(lambda: connector.bound)
    [result] = await connector.submit([message()])
    assert result.accepted


async def test_smsc_restart_makes_submits_unavailable_until_bound_again(
    smsc: SmscProcess, open_connector: OpenConnector
) -> None:
    connector = await open_connector(smsc)
    [before] = await connector.submit([message(1)])

    await smsc.kill()
    await eventually(lambda: not connector.bound)
    with pytest.raises(ConnectorUnavailable, match="not bound"):
        await connector.submit([message(2, number="96550000002")])

    await smsc.start()
    await eventually(lambda: connector.bound)
    [after] = await connector.submit([message(3, number="96550000003")])

    assert before.accepted and after.accepted
    assert len(smsc.of("bind")) == 2
    # Nothing of the refused batch reached either run of the SMSC.
    assert [s["destination_addr"] for s in smsc.of("submit_sm_received")] == [
        "96550000001",
        "96550000003",
    ]


async def test_connection_lost_mid_batch_tells_unknown_outcomes_from_unsent(
    start_smsc: StartSmsc, open_connector: OpenConnector
) -> None:
    smsc = await start_smsc("--submit-delay-s", "5")
    connector = await open_connector(smsc, smpp_window=2)
    batch = [message(recipient_id=i, number=f"9655000002{i}") for i in range(4)]

    submitting = asyncio.create_task(connector.submit(batch))
    await smsc.wait_for(lambda s: len(s.of("submit_sm_received")) == 2)
    await smsc.kill()
    results = await submitting

    assert not any(r.accepted for r in results)
    errors = [r.error or "" for r in results]
    assert [e.split(":")[0] for e in errors] == [
        "outcome unknown",
        "outcome unknown",
        "not sent",
        "not sent",
    ]


async def test_close_unbinds(smsc: SmscProcess, smpp_settings: Callable[..., Settings]) -> None:
    connector = SmppConnector(smpp_settings(smsc))
    await connector.start(ReceiptStore())

    await connector.close()

    await smsc.wait_for(lambda s: len(s.of("unbind")) == 1)
    assert not connector.bound
    with pytest.raises(ConnectorUnavailable):
        await connector.submit([message()])


# -- the receipt parser ---------------------------------------------------------------


def deliver_sm(text: str = "", esm_class: int = 0x04, tlvs: list[smpp34.Tlv] | None = None) -> Any:
    pdu = smpp34.DeliverSm(
        "96550000001", "SecGate", text.encode(), esm_class=esm_class, tlvs=tlvs or []
    )
    return smpp34.decode(pdu.encode())


RECEIPT_TEXT = (
    "id:{id} sub:001 dlvrd:{dlvrd} submit date:2501020304 done date:2501020305 "
    "stat:{stat} err:{err} text:Hello"
)


def test_receipt_text_gives_id_and_state() -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="001", stat="DELIVRD", err="000")

    assert parse_receipt(deliver_sm(text), FIXED_NOW) == Receipt("ab12", "delivered", FIXED_NOW)


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", "delivered"),
        ("UNDELIV", "failed"),
        ("REJECTD", "failed"),
        ("DELETED", "failed"),
        ("EXPIRED", "expired"),
    ],
)
def test_final_stat_words_map_to_final_states(stat: str, state: str) -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="000", stat=stat, err="042")

    receipt = parse_receipt(deliver_sm(text), FIXED_NOW)

    assert receipt is not None
    assert receipt.state == state
    assert receipt.error == (None if state == "delivered" else f"{stat} err:042")


@pytest.mark.parametrize("stat", ["ENROUTE", "ACCEPTD", "UNKNOWN"])
def test_intermediate_receipt_is_not_a_final_state(stat: str) -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="000", stat=stat, err="000")

    assert parse_receipt(deliver_sm(text), FIXED_NOW) is None


def test_mobile_originated_message_is_not_a_receipt() -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="001", stat="DELIVRD", err="000")

    assert parse_receipt(deliver_sm(text, esm_class=0x00), FIXED_NOW) is None


def test_receipt_tlvs_take_precedence_over_the_text() -> None:
    # Some SMSCs write the id in decimal in the text and as submitted in the TLV.
    text = RECEIPT_TEXT.format(id="43794", dlvrd="001", stat="DELIVRD", err="000")
    tlvs = [
        smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"ab12\x00"),
        smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([5])),  # UNDELIVERABLE
    ]

    receipt = parse_receipt(deliver_sm(text, tlvs=tlvs), FIXED_NOW)

    assert receipt == Receipt("ab12", "failed", FIXED_NOW, "UNDELIV err:000")


def test_words_in_the_receipted_text_do_not_count() -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="000", stat="UNDELIV", err="001")
    text = text.replace("text:Hello", "text:id:zz stat:DELIVRD")

    receipt = parse_receipt(deliver_sm(text), FIXED_NOW)

    assert receipt == Receipt("ab12", "failed", FIXED_NOW, "UNDELIV err:001")


def test_receipt_text_in_message_payload_is_read() -> None:
    text = RECEIPT_TEXT.format(id="ab12", dlvrd="001", stat="DELIVRD", err="000")
    payload = [smpp34.Tlv(smpp34.TLV_MESSAGE_PAYLOAD, text.encode())]

    assert parse_receipt(deliver_sm(tlvs=payload), FIXED_NOW) == Receipt(
        "ab12", "delivered", FIXED_NOW
    )


@pytest.mark.parametrize(
    "text",
    ["sub:001 dlvrd:001 stat:DELIVRD err:000", "id:ab12 sub:001 dlvrd:001 err:000", ""],
)
def test_receipt_without_id_or_state_is_malformed(text: str) -> None:
    with pytest.raises(MalformedReceipt):
        parse_receipt(deliver_sm(text), FIXED_NOW)


# -- encoding tables and status names -------------------------------------------------


def test_gsm7_table_covers_exactly_the_alphabet_the_page_count_uses() -> None:
    assert set(GSM7_CODES) == GSM7_CHARS
    assert len(set(GSM7_CODES.values())) == len(GSM7_CODES)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (0x0B, "ESME_RINVDSTADR (0x0000000B)"),
        (0x58, "ESME_RTHROTTLED (0x00000058)"),
        (0x0400, "ESME_VENDOR (0x00000400)"),
    ],
)
def test_command_status_is_described_by_name_and_number(status: int, text: str) -> None:
    assert describe_status(status) == text


async def test_a_gateway_whose_bind_is_refused_stops_with_one_line(
    smsc: SmscProcess, tmp_path: Path
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SECGATE_")}
    env |= {
        "SECGATE_PORT": str(free_port()),
        "SECGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'secgate.db'}",
        "SECGATE_VAR_DIR": str(tmp_path / "var"),
        "SECGATE_GEOIP_DB": str(GEOIP_TEST_DB),
        "SECGATE_CONNECTOR": "smpp",
        "SECGATE_SMPP_PORT": str(smsc.port),
        "SECGATE_SMPP_SYSTEM_ID": SYSTEM_ID,
        "SECGATE_SMPP_PASSWORD": "not-" + PASSWORD,
    }
    gateway = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "secgate", "migrate", env=env, cwd=REPO
    )
    assert await gateway.wait() == 0
    gateway = await asyncio.create_subprocess_exec(
        sys.executable, "server.py", env=env, cwd=REPO, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        _, stderr = await gateway.communicate()
    assert gateway.returncode == 1
    [line] = stderr.decode().splitlines()
    message = json.loads(line)["message"]
    assert message.startswith("cannot start the connector: SMSC refused bind_transceiver")
