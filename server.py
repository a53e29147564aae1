"""The gateway's entry point: `python server.py` serves on SECGATE_HOST:SECGATE_PORT.

Configuration comes from the environment (see `secgate/settings.py`); logs are JSON
lines on stderr.
"""

from __future__ import annotations

import logging
import sys

from secgate.ops.jsonlog import configure_logging
from secgate.serve import listen_url, run
from secgate.settings import Settings, SettingsError
from secgate.sms.connectors.protocol import ConnectorStartError


def main() -> int:
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
    except (SettingsError, ValueError) as exc:
        print(f"server.py: {exc}", file=sys.stderr)
        return 2
    try:
        run(settings)
    except OSError as exc:
        # Typically the address is taken; say so without a traceback.
        logging.getLogger("secgate.serve").error(
            "cannot serve on %s: %s", listen_url(settings), exc
        )
        return 1
    except ConnectorStartError as exc:
        logging.getLogger("secgate.serve").error("cannot start the connector: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
