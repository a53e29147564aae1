"""Settings: one typed object, every field settable as SECGATE_<NAME>."""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import fields
from pathlib import Path

import pytest

from secgate.settings import Settings, SettingsError


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/var/secgate.db")
    assert settings.redis_url is None
    assert settings.trusted_proxies == ()
    assert settings.connector == "sandbox"


@pytest.mark.parametrize("field", [f for f in fields(Settings)], ids=lambda f: f.name)
def test_every_field_has_an_environment_variable(field: object) -> None:
    name = field.name  # type: ignore[attr-defined]
    samples = {
        "str": "x1",
        "str | None": "redis://127.0.0.1:6379/3",
        "int": "7",
        "float": "2.5",
        "Path": "/tmp/somewhere",
        "tuple[IPNetwork, ...]": "10.0.0.0/8",
    }
    raw = samples[str(field.type)]  # type: ignore[attr-defined]
    settings = Settings.from_env({f"SECGATE_{name.upper()}": raw})
    value = getattr(settings, name)
    if name == "log_level":
        assert value == raw.upper()
    elif isinstance(value, tuple):
        assert value == (ipaddress.ip_network(raw),)
    else:
        assert str(value) == raw


def test_var_dir_moves_the_default_database_and_geoip_file() -> None:
    settings = Settings.from_env({"SECGATE_VAR_DIR": "/srv/secgate"})
    assert settings.database_url == "sqlite+aiosqlite:////srv/secgate/secgate.db"
    assert settings.geoip_db == Path("/srv/secgate/geoip/dbip-city-lite.mmdb")


def test_an_empty_variable_keeps_the_default() -> None:
    assert Settings.from_env({"SECGATE_PORT": "", "SECGATE_REDIS_URL": ""}) == Settings.from_env({})


def test_trusted_proxies_take_commas_spaces_and_bare_addresses() -> None:
    settings = Settings.from_env({"SECGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7 ::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("SECGATE_PORT", "0", 0),
        ("SECGATE_PORT", "65535", 65535),
        ("SECGATE_ALERT_FOLD_WINDOW_S", "0", 0.0),
        ("SECGATE_ALERT_FOLD_WINDOW_S", "0.001", 0.001),
    ],
)
def test_numbers_at_their_bounds_are_accepted(variable: str, raw: str, expected: float) -> None:
    settings = Settings.from_env({variable: raw})
    assert getattr(settings, variable.removeprefix("SECGATE_").lower()) == expected


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("SECGATE_PORT", "65536", "outside 0..65535"),
        ("SECGATE_PORT", "-1", "not negative"),
        ("SECGATE_PORT", "80.5", "not a number"),
        ("SECGATE_PORT", "eighty", "not a number"),
        ("SECGATE_ALERT_FOLD_WINDOW_S", "-0.001", "not negative"),
        ("SECGATE_ALERT_FOLD_WINDOW_S", "nan", "not negative"),
        ("SECGATE_ALERT_FOLD_WINDOW_S", "inf", "finite"),
        ("SECGATE_TRUSTED_PROXIES", "10.0.0.0/33", "not a CIDR"),
        ("SECGATE_TRUSTED_PROXIES", "proxy.example", "not a CIDR"),
    ],
)
def test_bad_values_name_the_variable(variable: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({variable: raw})
    assert variable in str(raised.value)


def test_secret_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    first = settings.with_secret_key()
    second = settings.with_secret_key()
    key_file = tmp_path / "secret_key"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_a_configured_secret_key_is_used_as_is(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, secret_key="k" * 40).with_secret_key()
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_a_short_secret_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("short")
    with pytest.raises(SettingsError, match="shorter than 32"):
        Settings(var_dir=tmp_path).with_secret_key()


def test_the_secret_key_is_not_in_the_repr() -> None:
    assert "sekrit" not in repr(Settings(secret_key="sekrit" * 8))
