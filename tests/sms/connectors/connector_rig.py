"""How the conformance suite gets connectors of one kind (see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from secgate.sms.connectors.protocol import Connector


@dataclass(frozen=True)
class ConnectorRig:
    open: Callable[[], Connector]  # to an operator that answers; not started
    open_unreachable: Callable[[], Connector]  # to one that cannot be reached; not started
