"""Every setting and threshold of the gateway, in one typed object.

Configuration comes from the environment (CONTRACT §2). Units are part of the
names (`_s`, `_bytes`, `_kib`) so that a reader never has to guess them.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_GEOIP_DB = DEFAULT_VAR_DIR / "geoip" / "dbip-city-lite.mmdb"
# The lists the content rules ship with (word lists, protected domains, shorteners).
CHECKS_DATA_DIR = Path(__file__).resolve().parent / "checks" / "data"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR / 'secgate.db'}"
    redis_url: str | None = None
    # Prefix of every Redis key, so that several deployments (or test runs) can
    # share one Redis without seeing each other's state.
    redis_namespace: str = "secgate"
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
    # ...and a verdict is reused this long (0 = probe the stores on every request).
    health_cache_s: float = 1.0
    log_level: str = "INFO"

    # PostgreSQL connections a process keeps open, and how many more it opens under
    # load (closed again when returned; 0 pool connections: no limit). A send holds
    # one for its transaction. Each process may open both, within max_connections.
    db_pool_connections: int = 10
    db_overflow_connections: int = 20

    # Passwords: argon2id parameters (RFC 9106 "second recommended" option).
    # Changing them makes the next successful login rehash the stored password.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4

    # Alerts: repeats of the same type and subject within this window fold into one.
    alert_fold_window_s: float = 15 * 60

    # Hot state: a queue item not acknowledged within this time is delivered again.
    queue_redelivery_after_s: float = 60.0

    # Messaging API (kwtSMS-compatible)
    max_numbers_per_request: int = 200  # ERR007 above this
    max_pages: int = 6  # ERR012 above this
    same_number_block_s: float = 15.0  # ERR028 within this of the last send to a number
    # An API credential that verified is remembered this long under a keyed hash, so
    # that each API call does not pay for a fresh argon2 verification.
    api_credential_cache_s: float = 300.0
    # A bearer token that verified is remembered in the process this long (keyed by its
    # SHA-256), so that each HTTP API call does not pay for a database lookup. A
    # revocation in this process applies at once; one made by another process within
    # this time. 0 looks every token up on every request.
    api_token_cache_s: float = 5.0
    # Largest contact group one send may address (a group send is not held to the
    # 200-number limit of an API request).
    max_group_send_numbers: int = 10_000
    # Warn the account owner when the balance falls below this many points
    # (an account's own low_balance_threshold overrides it).
    low_balance_threshold_points: int = 100

    # Dispatcher: workers that take queued recipients to the connector.
    dispatch_workers: int = 4
    dispatch_batch_size: int = 200  # recipients per queue item
    # A claim older than this belongs to a worker that died; its recipients are
    # taken again (never twice by an idempotent connector).
    dispatch_claim_timeout_s: float = 30.0
    # How often the sweeper looks for queued recipients whose queue item was lost.
    dispatch_sweep_interval_s: float = 5.0
    # A queued recipient nobody has claimed for this long is taken as lost by the queue
    # and queued again (at most once per message in this time).
    dispatch_orphan_grace_s: float = 60.0
    # A worker whose connector or store failed waits this long before trying again.
    dispatch_retry_delay_s: float = 1.0

    # Sandbox connector: a simulated operator.
    sandbox_submit_latency_s: float = 0.005
    sandbox_dlr_delay_s: float = 0.2
    sandbox_delivered_ratio: float = 0.95
    sandbox_failed_ratio: float = 0.04  # the rest expire
    sandbox_seed: int = 0  # 0 = random; any other value makes outcomes repeatable

    # SMPP connector (SMPP 3.4 transceiver)
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: str = field(default="", repr=False)
    smpp_system_type: str = ""
    smpp_enquire_link_s: float = 30.0
    smpp_reconnect_delay_s: float = 2.0
    smpp_window: int = 10  # submit_sm in flight at once
    # Longest wait for any SMSC response (bind, submit_sm, enquire_link); a silent
    # enquire_link past it means a dead link, so the session is dropped and rebuilt.
    smpp_response_timeout_s: float = 10.0

    # Delivery-report webhooks
    webhook_timeout_s: float = 5.0
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 2.0  # doubles with each attempt
    webhook_poll_interval_s: float = 1.0
    # Webhooks go to public addresses only (no loopback, private, link-local, CGNAT,
    # multicast...); these networks are exempted from that rule, e.g. a receiver of
    # your own on the internal network (tests use 127.0.0.0/8).
    webhook_allowed_networks: tuple[IPNetwork, ...] = ()
    # Outbox rows delivered or abandoned longer ago than this are deleted by the
    # retention job (0: at its next sweep).
    webhook_outbox_keep_days: int = 30

    # Retention: message text and numbers older than this are anonymised.
    retention_days: int = 90
    retention_sweep_interval_s: float = 3600.0

    # --- Sender-ID guard (issue 4): protected names and their look-alikes ---
    # (how IDs are matched: secgate/checks/sender_ids.py)
    # Each process reads the protected names from the database at most once per this
    # many seconds; its own edits apply at once, another process's within this time.
    protected_senders_cache_s: float = 30.0
    # An ID within this many edits (Damerau-Levenshtein: a character added, dropped,
    # changed or two neighbours swapped) of a protected name looks like it (0: off)...
    sender_guard_max_edits: int = 1
    # ...if the name has at least this many characters ("ETC" is not a look-alike of STC).
    sender_guard_edit_min_chars: int = 6
    # Names of at least this many characters are found anywhere inside a longer ID;
    # shorter ones only as a whole part of it or beside a common word such as BANK or KW
    # ("KFHBANK" blocks, "KIBBLE" does not).
    sender_guard_embed_min_chars: int = 6

    # --- SMS pumping (issue 4; secgate.abuse, secgate.checks.pumping) -------------
    # A main threshold of 0 switches its detector off. Windows must be above 0.
    # A destination prefix is the country code and this many digits after it.
    pumping_prefix_digits: int = 4
    # Per-account send rate (fixed windows); ERR013 above either. The minute limit
    # lets one full group send (max_group_send_numbers) through.
    pumping_max_recipients_per_minute: int = 10_000
    pumping_max_recipients_per_hour: int = 50_000
    # Spike: recipients to one prefix in the current window against the account's
    # mean per window over the previous baseline windows.
    pumping_spike_window_s: float = 3600.0
    pumping_spike_baseline_windows: int = 24
    pumping_spike_factor: float = 10.0
    pumping_spike_min_recipients: int = 50
    # A spike is measured against the account's own history: an account whose first
    # send (as remembered, see pumping_country_history_s) is less than this long ago
    # has none to spike against, and is judged by the new-country detector and the
    # send-rate limits only. One baseline period by default (24 windows of an hour), so
    # that a baseline is never a mean over windows the account did not exist in.
    # 0: judge from the first send (a prefix never sent to then spikes at the minimum).
    pumping_spike_min_history_s: float = 86400.0
    # Prefixes of one send that are counted and judged: those with the most recipients
    # (each costs hot-state round trips; pumping goes to a few prefixes of its own).
    # 0: every prefix.
    pumping_spike_prefixes_per_send: int = 5
    # A country first sent to within this window, by an account that was sending
    # before it, with this many recipients in the window.
    pumping_new_country_window_s: float = 3600.0
    pumping_new_country_min_recipients: int = 20
    # How long the countries an account sends to (and its first send) are remembered
    # after the last send to them.
    pumping_country_history_s: float = 180 * 86400.0
    # Runs of numbers in arithmetic progression (step 1..max) in one send, or across
    # the account's sends of at most `history_max_recipients` numbers in the current
    # (fixed) window.
    # Why 20: a list holding a share p of a range's numbers, spread at random, holds
    # about n × max_step × p^(run-1) runs (n: its size). For a million numbers with
    # p = 0.3 (a third of every number in use: a very large list) that is ~10⁻³ for a
    # run of 20 but ~10⁵ for a run of 5 (operators hand out numbers in blocks, so such
    # dense stretches are real). A pumping walk is hundreds long: at 20 it is throttled
    # after its first 20 numbers.
    pumping_sequence_min_run: int = 20
    pumping_sequence_max_step: int = 10
    pumping_sequence_window_s: float = 3600.0
    pumping_sequence_history_max_recipients: int = 4
    # One-time codes (our own login codes): verified / sent per prefix in the window.
    pumping_otp_window_s: float = 86400.0
    pumping_otp_min_sent: int = 20
    pumping_otp_min_verified_ratio: float = 0.2
    # A detector that fires throttles the prefix (or country) for the account this long.
    pumping_throttle_s: float = 12 * 3600.0

    # --- Content rules (issue 4; secgate.checks.content_rules) --------------------
    # Word lists (ERR031) and the link rules' lists: text files, one entry a line.
    bad_words_en_file: Path = CHECKS_DATA_DIR / "bad_words_en.txt"
    bad_words_ar_file: Path = CHECKS_DATA_DIR / "bad_words_ar.txt"
    # "brand: its-domain its-domain ...": look-alike domains of these brands are refused.
    link_protected_domains_file: Path = CHECKS_DATA_DIR / "protected_domains.txt"
    link_shorteners_file: Path = CHECKS_DATA_DIR / "url_shorteners.txt"
    # A domain within this many edits of a brand's name (a letter added, dropped,
    # changed, or two swapped) is held for review ("ooredo.com")...
    link_lookalike_max_edits: int = 1
    # ...when the name has at least this many characters; shorter names match only
    # exactly, after look-alike letters are read ("kfc" is one edit from "kfh").
    link_lookalike_min_brand_chars: int = 6

    # --- Content spam model (issue 4; secgate.spam_model, secgate.checks.spam_model) ---
    # The model file (skops); one that cannot be loaded stops the server.
    spam_model_path: Path = PROJECT_ROOT / "models" / "spam-model.skops"
    # Spam score (calibrated probability, 0..1) at or above which a message is refused
    # (ERR032), and at or above which (below the first) it is held for staff review.
    # The defaults are those cross-validation chose for the shipped model (its card,
    # models/spam-model.md, says how); retraining prints new ones.
    spam_reject_score: float = 0.144
    spam_hold_score: float = 0.115
    # The same for a message from one of the account's transactional sender IDs
    # (one-time codes and notices, registered so by staff): higher, so that no kind of
    # notice the model has not seen is refused.
    spam_transactional_reject_score: float = 0.255
    spam_transactional_hold_score: float = 0.192

    # --- Pre-send pipeline and check endpoint (issue 4; secgate.checks.pipeline) ---
    # Messages one POST /api/v1/checks/messages may carry (413 beyond); the spam model
    # scores them in one call.
    check_batch_max_messages: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every field can be set as SECGATE_<FIELD NAME IN CAPITALS>; unset or empty
        keeps the default. Numbers must be finite and not negative."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SECGATE_{f.name.upper()}", "")
            if raw != "":
                values[f.name] = _parse(f"SECGATE_{f.name.upper()}", raw, f.type)
        # The default store and GeoIP file live under var/, wherever that is.
        var_dir = values.setdefault("var_dir", DEFAULT_VAR_DIR)
        values.setdefault("database_url", f"sqlite+aiosqlite:///{var_dir / 'secgate.db'}")
        values.setdefault("geoip_db", var_dir / "geoip" / DEFAULT_GEOIP_DB.name)
        if "log_level" in values:
            values["log_level"] = values["log_level"].upper()
        if not 0 <= values.get("port", 0) <= 65535:
            raise SettingsError(f"SECGATE_PORT: {values['port']} is outside 0..65535")
        return cls(**values)

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


def parse_networks(text: str, name: str = "SECGATE_TRUSTED_PROXIES") -> tuple[IPNetwork, ...]:
    """Parse a comma- or space-separated list of CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SettingsError(f"{name}: {item!r} is not a CIDR") from exc
    return tuple(networks)


def _parse(name: str, raw: str, annotation: object) -> Any:
    kind = _FIELD_TYPES.get(str(annotation))
    if kind is None:
        raise TypeError(f"settings: no parser for {annotation!r} ({name})")
    if kind is float or kind is int:
        try:
            number = kind(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {raw!r} is not a number") from exc
        if not 0 <= number < math.inf:  # also rejects NaN
            raise SettingsError(f"{name}: {raw!r} must be finite and not negative")
        return number
    if kind is bool:
        if raw.lower() not in _BOOLEANS:
            raise SettingsError(f"{name}: {raw!r} is not one of {sorted(_BOOLEANS)}")
        return _BOOLEANS[raw.lower()]
    if kind is parse_networks:
        return parse_networks(raw, name)
    return kind(raw)


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
# Field annotations are strings (from __future__ import annotations).
_FIELD_TYPES: dict[str, Callable[[str], Any]] = {
    "str": str,
    "str | None": str,
    "int": int,
    "float": float,
    "bool": bool,
    "Path": Path,
    "tuple[IPNetwork, ...]": parse_networks,
}
