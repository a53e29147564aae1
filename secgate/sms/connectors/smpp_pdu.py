"""SMPP 3.4 framing: PDU headers, the small fixed-layout bodies, command_status names.

`smpp34` encodes and decodes the message PDUs (submit_sm, deliver_sm); what is
left (bind, enquire_link, unbind, the responses) is a header and a few C-strings,
written here so that the session can answer every PDU with the status it chooses.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
INTERFACE_VERSION = 0x34
# A submit_sm or deliver_sm carries at most 64 KiB of message_payload; anything
# longer is a broken or hostile peer, and the session is dropped rather than buffered.
MAX_PDU_BYTES = 70_000
MAX_SEQUENCE = 0x7FFFFFFF  # sequence numbers run 1..2^31-1, then wrap


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


RESPONSE_BIT = 0x80000000

# command_status values (SMPP 3.4 §5.1.3) that the connector sends or acts on.
ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RX_T_APPN = 0x64  # "temporary application error": the SMSC is to retry later
ESME_RX_P_APPN = 0x65  # "permanent application error": the SMSC is not to retry

STATUS_NAMES: dict[int, str] = {
    0x00: "ESME_ROK",
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    0x06: "ESME_RINVPRTFLG",
    0x07: "ESME_RINVREGDLVFLG",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID",
    0x11: "ESME_RCANCELFAIL",
    0x13: "ESME_RREPLACEFAIL",
    0x14: "ESME_RMSGQFUL",
    0x15: "ESME_RINVSERTYP",
    0x33: "ESME_RINVNUMDESTS",
    0x34: "ESME_RINVDLNAME",
    0x40: "ESME_RINVDESTFLAG",
    0x42: "ESME_RINVSUBREP",
    0x43: "ESME_RINVESMCLASS",
    0x44: "ESME_RCNTSUBDL",
    0x45: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    0x53: "ESME_RINVSYSTYP",
    0x54: "ESME_RINVREPFLAG",
    0x55: "ESME_RINVNUMMSGS",
    0x58: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    0x63: "ESME_RINVDFTMSGID",
    0x64: "ESME_RX_T_APPN",
    0x65: "ESME_RX_P_APPN",
    0x66: "ESME_RX_R_APPN",
    0x67: "ESME_RQUERYFAIL",
    0xC0: "ESME_RINVOPTPARSTREAM",
    0xC1: "ESME_ROPTPARNOTALLWD",
    0xC2: "ESME_RINVPARLEN",
    0xC3: "ESME_RMISSINGOPTPARAM",
    0xC4: "ESME_RINVOPTPARAMVAL",
    0xFE: "ESME_RDELIVERYFAILURE",
    0xFF: "ESME_RUNKNOWNERR",
}


def describe_status(status: int) -> str:
    """E.g. "ESME_RINVDSTADR (0x0000000B)"; vendor codes read "ESME_VENDOR (0x...)"."""
    return f"{STATUS_NAMES.get(status, 'ESME_VENDOR')} (0x{status:08X})"


class ProtocolError(Exception):
    """The peer sent bytes that are not an SMPP PDU; the session cannot go on."""


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes

    def encode(self) -> bytes:
        return (
            HEADER.pack(HEADER.size + len(self.body), self.command_id, self.status, self.sequence)
            + self.body
        )


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """The next PDU; raises asyncio.IncompleteReadError at end of stream."""
    length_bytes = await reader.readexactly(4)
    (length,) = struct.unpack(">I", length_bytes)
    if not HEADER.size <= length <= MAX_PDU_BYTES:
        raise ProtocolError(f"command_length {length} out of range")
    rest = await reader.readexactly(length - 4)
    _, command_id, status, sequence = HEADER.unpack(length_bytes + rest[: HEADER.size - 4])
    return Pdu(command_id, status, sequence, rest[HEADER.size - 4 :])


def c_strings(body: bytes, count: int) -> tuple[list[str], bytes]:
    """The first `count` NUL-terminated strings of `body` (Latin-1), and what follows."""
    values: list[str] = []
    for _ in range(count):
        end = body.find(b"\x00")
        if end < 0:
            raise ProtocolError("C-Octet String without its NUL")
        values.append(body[:end].decode("latin-1"))
        body = body[end + 1 :]
    return values, body


def c_string(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def bind_transceiver_body(system_id: str, password: str, system_type: str) -> bytes:
    # addr_ton, addr_npi 0 and an empty address_range: receive for every address.
    return (
        c_string(system_id)
        + c_string(password)
        + c_string(system_type)
        + bytes([INTERFACE_VERSION, 0, 0])
        + c_string("")
    )


@dataclass(frozen=True, slots=True)
class BindRequest:
    system_id: str
    password: str
    system_type: str


def parse_bind_body(body: bytes) -> BindRequest:
    (system_id, password, system_type), _ = c_strings(body, 3)
    return BindRequest(system_id, password, system_type)
