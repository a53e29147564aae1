"""Every setting and threshold of the gateway, in one typed object.

Configuration comes from the environment (CONTRACT §2). Units are part of the
names (`_s`, `_bytes`, `_kib`) so that a reader never has to guess them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_GEOIP_DB = DEFAULT_VAR_DIR / "geoip" / "dbip-city-lite.mmdb"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR / 'secgate.db'}"
    redis_url: str | None = None
    geoip_db: Path = DEFAULT_GEOIP_DB
    trusted_proxies: tuple[IPNetwork, ...] = ()
    connector: str = "sandbox"
    secret_key: str = field(default="", repr=False)
    var_dir: Path = DEFAULT_VAR_DIR

    # HTTP
    max_body_bytes: int = 1024 * 1024
    shutdown_timeout_s: float = 30.0
    # /healthz waits this long for each store, so that a hung store cannot hang the probe.
    health_check_timeout_s: float = 2.0
    log_level: str = "INFO"

    # Passwords: argon2id parameters (RFC 9106 "second recommended" option).
    # Changing them makes the next successful login rehash the stored password.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4

    # Alerts: repeats of the same type and subject within this window fold into one.
    alert_fold_window_s: float = 15 * 60

    # Hot state: a queue item not acknowledged within this time is delivered again.
    queue_redelivery_after_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = Path(env.get("SECGATE_VAR_DIR", str(DEFAULT_VAR_DIR)))
        defaults = cls()
        return cls(
            host=env.get("SECGATE_HOST", defaults.host),
            port=_int(env, "SECGATE_PORT", defaults.port, low=0, high=65535),
            database_url=env.get(
                "SECGATE_DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / 'secgate.db'}"
            ),
            redis_url=env.get("SECGATE_REDIS_URL") or None,
            geoip_db=Path(
                env.get("SECGATE_GEOIP_DB", str(var_dir / "geoip" / DEFAULT_GEOIP_DB.name))
            ),
            trusted_proxies=parse_networks(env.get("SECGATE_TRUSTED_PROXIES", "")),
            connector=env.get("SECGATE_CONNECTOR", defaults.connector),
            secret_key=env.get("SECGATE_SECRET_KEY", ""),
            var_dir=var_dir,
            max_body_bytes=_int(
                env, "SECGATE_MAX_BODY_BYTES", defaults.max_body_bytes, low=1024, high=2**31
            ),
            shutdown_timeout_s=_float(
                env, "SECGATE_SHUTDOWN_TIMEOUT_S", defaults.shutdown_timeout_s, low=0.0
            ),
            log_level=env.get("SECGATE_LOG_LEVEL", defaults.log_level).upper(),
            alert_fold_window_s=_float(
                env, "SECGATE_ALERT_FOLD_WINDOW_S", defaults.alert_fold_window_s, low=0.0
            ),
            queue_redelivery_after_s=_float(
                env,
                "SECGATE_QUEUE_REDELIVERY_AFTER_S",
                defaults.queue_redelivery_after_s,
                low=0.001,
            ),
        )

    def with_secret_key(self) -> Settings:
        """Return settings whose secret key is set: from the environment, else from
        `var/secret_key`, generated there (mode 0600) on first run."""
        if self.secret_key:
            return self
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not both write a key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
        key = path.read_text().strip()
        if len(key) < 32:
            raise SettingsError(f"{path}: secret key is shorter than 32 characters")
        return replace(self, secret_key=key)


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Parse a comma- or space-separated list of CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SettingsError(f"SECGATE_TRUSTED_PROXIES: {item!r} is not a CIDR") from exc
    return tuple(networks)


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is outside {low}..{high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {raw!r} is not a number") from exc
    if not value >= low:  # also rejects NaN
        raise SettingsError(f"{name}: {value} is below {low}")
    return value
