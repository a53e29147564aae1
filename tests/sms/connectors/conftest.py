"""Connectors for the conformance suite (test_conformance.py).

The suite runs once for each name in CONNECTOR_KINDS. For each name a fixture
`<name>_rig` gives a ConnectorRig: how to open a connector of that kind to an operator
that answers, and to one that cannot be reached. To put another connector through
the suite, add its `<name>_rig` fixture below and its name to CONNECTOR_KINDS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from connector_rig import ConnectorRig
from smsc_process import PASSWORD, SYSTEM_ID, SmscProcess, free_port

from secgate.settings import Settings
from secgate.sms.connectors.sandbox import SandboxConnector
from secgate.sms.connectors.smpp import SmppConnector
from secgate.storage.db import create_engine, session_factory

CONNECTOR_KINDS = ["sandbox", "smpp"]

# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/secgate"


@pytest.fixture(params=CONNECTOR_KINDS)
def connector_rig(request: pytest.FixtureRequest) -> ConnectorRig:
    rig: ConnectorRig = request.getfixturevalue(f"{request.param}_rig")
    return rig


@pytest.fixture
async def sandbox_rig(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[ConnectorRig]:
    """The sandbox on the test session's SQLite database (its own tests run it on
    both databases); receipts come quickly and are always "delivered"."""
    settings = make_settings(
        sandbox_submit_latency_s=0.0,
        sandbox_dlr_delay_s=0.02,
        sandbox_delivered_ratio=1.0,
        sandbox_failed_ratio=0.0,
    )
    engine = create_engine(sqlite_url)
    unreachable = create_engine(UNREACHABLE_DATABASE_URL)
    yield ConnectorRig(
        open=lambda: SandboxConnector(session_factory(engine), settings),
        open_unreachable=lambda: SandboxConnector(session_factory(unreachable), settings),
    )
    await engine.dispose()
    await unreachable.dispose()


@pytest.fixture
async def smpp_rig(make_settings: Callable[..., Settings]) -> AsyncIterator[ConnectorRig]:
    """SMPP to a real SMSC process (smpp_server.py): it delivers numbers ending 1..6;
    the unreachable one is a port nothing listens on."""
    smsc = SmscProcess()
    await smsc.start()

    def settings(port: int) -> Settings:
        return make_settings(
            smpp_port=port,
            smpp_system_id=SYSTEM_ID,
            smpp_password=PASSWORD,
            smpp_reconnect_delay_s=0.05,
            smpp_response_timeout_s=2.0,
        )

    yield ConnectorRig(
        open=lambda: SmppConnector(settings(smsc.port)),
        open_unreachable=lambda: SmppConnector(settings(free_port())),
    )
    await smsc.kill()
