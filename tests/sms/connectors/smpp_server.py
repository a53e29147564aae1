"""A small SMSC for the SMPP connector's tests, run as its own process:

    python tests/sms/connectors/smpp_server.py --port 2775 [options]

The SMPP engine is `smpp34.Server` (a Rust implementation independent of ours). Its
Python binding accepts every bind, so a gate in front of it reads the client's
bind_transceiver, refuses wrong credentials with the proper bind_transceiver_resp,
and for good ones relays the connection to the engine. On the way through, the gate
notes the client's enquire_link and unbind, and drops a client silent for longer
than --inactivity-s, as a real SMSC's inactivity timer does.

Behaviour by destination number (the last digits decide):
- ending in 000: submit_sm refused with ESME_RINVDSTADR;
- ending in 9: receipt stat:UNDELIV; 8: stat:EXPIRED; 7: stat:REJECTD;
- anything else: stat:DELIVRD.
A receipt (deliver_sm, esm_class 0x04) follows each accepted submit_sm after
--dlr-delay-s, with the receipted_message_id and message_state TLVs unless
--text-only-receipts. A receipt answered with an error status is sent again after
--redeliver-delay-s, to the same ESME or, once that one is gone, to any bound ESME.

Every event is printed on stdout as one JSON object per line, for the tests to read;
a submit_sm is reported as it arrives ("submit_sm_received") and, with all its
fields, once answered ("submit_sm", after --submit-delay-s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any

import smpp34

from secgate.sms.connectors.smpp_pdu import (
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    Command,
    Pdu,
    c_string,
    parse_bind_body,
    read_pdu,
)

STATS_BY_LAST_DIGIT = {"9": ("UNDELIV", 5), "8": ("EXPIRED", 3), "7": ("REJECTD", 8)}
DELIVERED = ("DELIVRD", 2)
REFUSED_SUFFIX = "000"


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Smsc:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engine_port = free_port()
        self.engine = smpp34.Server("127.0.0.1", self.engine_port, system_id="SIMSMSC")
        self.sessions: dict[str, smpp34.Esme] = {}
        self.ids = (f"{secrets.token_hex(3)}{n:06x}" for n in itertools.count(1))
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        await self.engine.start()
        gate = await asyncio.start_server(self.gate, "127.0.0.1", self.args.port)
        emit("listening", port=self.args.port)
        async with gate:
            while True:
                event = await self.engine.next()
                if isinstance(event, smpp34.Esme):
                    self.sessions[event.session_id] = event
                elif isinstance(event, smpp34.SubmitSmEvent):
                    self.spawn(self.answer_submit_sm(event))
                elif isinstance(event, smpp34.Unbound):
                    self.sessions.pop(event.session_id, None)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- the gate ---------------------------------------------------------------

    async def gate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            bind = await asyncio.wait_for(read_pdu(reader), 5)
            if bind.command_id != Command.BIND_TRANSCEIVER:
                return
            request = parse_bind_body(bind.body)
            status = ESME_ROK
            if request.system_id != self.args.system_id:
                status = ESME_RINVSYSID
            elif request.password != self.args.password:
                status = ESME_RINVPASWD
            emit(
                "bind",
                system_id=request.system_id,
                system_type=request.system_type,
                accepted=status == ESME_ROK,
            )
            if status != ESME_ROK:
                resp = Pdu(Command.BIND_TRANSCEIVER_RESP, status, bind.sequence, c_string(""))
                writer.write(resp.encode())
                await writer.drain()
                return
            engine_reader, engine_writer = await asyncio.open_connection(
                "127.0.0.1", self.engine_port
            )
            engine_writer.write(bind.encode())
            try:
                await self.relay(reader, writer, engine_reader, engine_writer)
            finally:
                engine_writer.close()
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    async def relay(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        engine_reader: asyncio.StreamReader,
        engine_writer: asyncio.StreamWriter,
    ) -> None:
        last_heard = time.monotonic()

        async def from_client() -> None:
            nonlocal last_heard
            while True:
                pdu = await read_pdu(client_reader)
                last_heard = time.monotonic()
                if pdu.command_id == Command.ENQUIRE_LINK:
                    emit("enquire_link")
                elif pdu.command_id == Command.UNBIND:
                    emit("unbind")
                engine_writer.write(pdu.encode())

        async def from_engine() -> None:
            while data := await engine_reader.read(65536):
                client_writer.write(data)

        async def inactivity_timer() -> None:
            limit = self.args.inactivity_s
            if not limit:
                await asyncio.Event().wait()  # no inactivity timer: wait forever
            while True:
                await asyncio.sleep(last_heard + limit - time.monotonic())
                if time.monotonic() - last_heard >= limit:
                    emit("inactivity_drop")
                    return

        tasks = [asyncio.create_task(job()) for job in (from_client, from_engine, inactivity_timer)]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- messages ----------------------------------------------------------------

    async def answer_submit_sm(self, event: smpp34.SubmitSmEvent) -> None:
        self.in_flight += 1
        in_flight = self.in_flight
        emit("submit_sm_received", destination_addr=event.destination_addr)
        await asyncio.sleep(self.args.submit_delay_s)
        self.in_flight -= 1
        payload = next((t.value for t in event.tlvs if t.tag == smpp34.TLV_MESSAGE_PAYLOAD), None)
        record = {
            "source_addr": event.source_addr,
            "source_addr_ton": event.source_addr_ton,
            "source_addr_npi": event.source_addr_npi,
            "destination_addr": event.destination_addr,
            "dest_addr_ton": event.dest_addr_ton,
            "dest_addr_npi": event.dest_addr_npi,
            "esm_class": event.esm_class,
            "data_coding": event.data_coding,
            "registered_delivery": event.registered_delivery,
            "short_message": event.short_message.hex(),
            "message_payload": payload.hex() if payload is not None else None,
            "in_flight": in_flight,
        }
        if event.destination_addr.endswith(REFUSED_SUFFIX):
            event.reject(smpp34.ESME_RINVDSTADR)
            emit("submit_sm", message_id=None, **record)
            return
        message_id = next(self.ids)
        event.accept(message_id)
        emit("submit_sm", message_id=message_id, **record)
        await asyncio.sleep(self.args.dlr_delay_s)
        await self.send_receipt(event, message_id)

    async def send_receipt(self, event: smpp34.SubmitSmEvent, message_id: str) -> None:
        stat, state = STATS_BY_LAST_DIGIT.get(event.destination_addr[-1:], DELIVERED)
        now = datetime.now(UTC).strftime("%y%m%d%H%M")
        delivered = "001" if stat == "DELIVRD" else "000"
        error = "000" if stat == "DELIVRD" else "001"
        text = (
            f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{now} done date:{now} "
            f"stat:{stat} err:{error} text:{event.short_message[:20].decode('latin-1')}"
        )
        tlvs = []
        if not self.args.text_only_receipts:
            tlvs = [
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state])),
            ]
        for attempt in range(1, self.args.max_deliveries + 1):
            # Every bound ESME passed the gate with the same credentials.
            esme = self.sessions.get(event.session_id) or next(iter(self.sessions.values()), None)
            status: int | None = None
            if esme is not None:
                with contextlib.suppress(smpp34.SmppError):
                    resp = await esme.deliver_sm(
                        event.source_addr,
                        text.encode("latin-1"),
                        source_addr=event.destination_addr,
                        source_addr_ton=1,
                        source_addr_npi=1,
                        esm_class=0x04,
                        tlvs=tlvs,
                    )
                    status = resp.command_status
            emit("deliver_sm", message_id=message_id, stat=stat, attempt=attempt, status=status)
            if status == ESME_ROK:
                return
            await asyncio.sleep(self.args.redeliver_delay_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system-id", default="secgate")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--dlr-delay-s", type=float, default=0.05)
    parser.add_argument("--submit-delay-s", type=float, default=0.0)
    parser.add_argument("--redeliver-delay-s", type=float, default=0.05)
    parser.add_argument("--max-deliveries", type=int, default=50)
    parser.add_argument("--inactivity-s", type=float, default=0.0, help="0 = never")
    parser.add_argument("--text-only-receipts", action="store_true")
    asyncio.run(Smsc(parser.parse_args()).run())


if __name__ == "__main__":
    main()
