"""Choosing the operator connector from the settings (SECGATE_CONNECTOR)."""

from __future__ import annotations

from secgate.settings import Settings, SettingsError
from secgate.sms.connectors.protocol import Connector
from secgate.sms.connectors.sandbox import SandboxConnector
from secgate.storage.db import SessionFactory

CONNECTORS = ("sandbox", "smpp")


def open_connector(settings: Settings, sessions: SessionFactory) -> Connector:
    """The configured connector, not yet started (`start()` connects it)."""
    if settings.connector == "sandbox":
        return SandboxConnector(sessions, settings)
    if settings.connector == "smpp":
        # Imported only when chosen: it loads the native smpp34 extension.
        from secgate.sms.connectors.smpp import SmppConnector

        return SmppConnector(settings)
    raise SettingsError(
        f"SECGATE_CONNECTOR: {settings.connector!r} is not one of {', '.join(CONNECTORS)}"
    )
