"""Contact groups: reading CSV files as people export them, importing with a report
on every refused row, and reading a group's numbers back for a group send."""

from __future__ import annotations

import asyncio

import pytest
from customer_accounts import add_account
from sqlalchemy import func, select

from secgate.sms.contacts import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_LINES,
    GroupNotFound,
    ImportReport,
    InvalidGroupName,
    InvalidImport,
    RowProblem,
    group_contacts,
    group_numbers,
    import_csv,
    parse_csv,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import ContactGroup

LIMIT = 10_000


def rows_of(data: bytes | str) -> list[tuple[int, str, str]]:
    rows, problems = parse_csv(data)
    assert problems == []
    return [(row.line, row.name, row.number) for row in rows]


# -- reading files -------------------------------------------------------------------


def test_name_number_lines_with_a_header() -> None:
    data = "name,number\nAli,+965 5000 0001\nMona,96550000002\n"

    assert rows_of(data) == [(2, "Ali", "+965 5000 0001"), (3, "Mona", "96550000002")]


def test_name_number_lines_without_a_header() -> None:
    assert rows_of("Ali,96550000001\nMona,96550000002") == [
        (1, "Ali", "96550000001"),
        (2, "Mona", "96550000002"),
    ]


def test_numbers_alone_with_or_without_a_header() -> None:
    assert rows_of("mobile\n96550000001\n") == [(2, "", "96550000001")]
    assert rows_of("96550000001\n96550000002") == [(1, "", "96550000001"), (2, "", "96550000002")]


def test_a_byte_order_mark_and_crlf_line_ends_are_read_through() -> None:
    data = "\ufeffname,number\r\nعلي,96550000001\r\n".encode()

    assert rows_of(data) == [(2, "علي", "96550000001")]


def test_blank_lines_are_skipped_and_line_numbers_stay_those_of_the_file() -> None:
    data = "\n\nAli,96550000001\n   \n\nMona,96550000002\n\n"

    assert rows_of(data) == [(3, "Ali", "96550000001"), (6, "Mona", "96550000002")]


def test_quoted_fields_may_hold_the_separator_and_quotes() -> None:
    data = '"Doe, Jane",96550000001\n"Ali ""the boss""","+965 5000 0002"\n'

    assert rows_of(data) == [
        (1, "Doe, Jane", "96550000001"),
        (2, 'Ali "the boss"', "+965 5000 0002"),
    ]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_semicolon_or_tab_separated_file_is_read(separator: str) -> None:
    data = f"Ali{separator}96550000001\nDoe, Jane{separator}96550000002\n"

    assert rows_of(data) == [(1, "Ali", "96550000001"), (2, "Doe, Jane", "96550000002")]


def test_empty_columns_a_spreadsheet_adds_are_ignored() -> None:
    assert rows_of("Ali,96550000001,,\n") == [(1, "Ali", "96550000001")]


def test_lines_that_are_not_a_contact_are_refused_with_their_line() -> None:
    rows, problems = parse_csv('Ali,96550000001\nAli,965,extra\n"unclosed,96550000002\n')

    assert [row.line for row in rows] == [1]
    assert [(p.line, p.raw) for p in problems] == [
        (2, "Ali,965,extra"),
        (3, '"unclosed,96550000002'),
    ]
    assert problems[0].reason == "expected name,number or a number alone, got 3 fields"
    assert problems[1].reason.startswith("malformed CSV")


def test_a_long_line_is_shortened_in_the_report() -> None:
    _, [problem] = parse_csv("a," * 300 + "96550000001")

    assert len(problem.raw) == 200 and problem.raw.endswith("…")


def test_a_file_that_is_not_utf8_is_refused_whole() -> None:
    with pytest.raises(InvalidImport, match=r"not UTF-8 \(byte 0\)"):
        parse_csv("علي,96550000001".encode("cp1256"))


def test_a_file_over_the_size_cap_is_refused_whole() -> None:
    line = b"96550000001\n"
    parse_csv(b" " * (MAX_IMPORT_BYTES - len(line)) + line)  # at the cap: read

    with pytest.raises(InvalidImport, match="over"):
        parse_csv(b" " * (MAX_IMPORT_BYTES - len(line) + 1) + line)


def test_a_file_over_the_line_cap_is_refused_whole() -> None:
    parse_csv("\n" * (MAX_IMPORT_LINES - 1))  # at the cap: read

    with pytest.raises(InvalidImport, match=f"more than {MAX_IMPORT_LINES} lines"):
        parse_csv("\n" * MAX_IMPORT_LINES)


# -- importing -----------------------------------------------------------------------


async def run_import(
    db_sessions: SessionFactory,
    account_id: int,
    data: bytes | str,
    group: str = "customers",
    limit: int = LIMIT,
) -> ImportReport:
    async with db_sessions.begin() as session:
        return await import_csv(session, account_id, group, data, max_group_numbers=limit)


async def members(db_sessions: SessionFactory, account_id: int, group: str = "customers") -> list:
    async with db_sessions() as session:
        return [(c.name, c.number) for c in await group_contacts(session, account_id, group)]


async def test_valid_rows_are_added_with_normalised_numbers(
    db_sessions: SessionFactory, account_id: int
) -> None:
    data = "name,number\nAli,+965 5000-0001\nMona,٩٦٥٥٠٠٠٠٠٠٢\n,00965 5000 0003\n"

    report = await run_import(db_sessions, account_id, data)

    assert report == ImportReport("customers", added=3, duplicates=0, rejected=[])
    assert await members(db_sessions, account_id) == [
        ("Ali", "96550000001"),
        ("Mona", "96550000002"),
        ("", "96550000003"),
    ]


async def test_every_refused_row_is_reported_with_its_line_text_and_reason(
    db_sessions: SessionFactory, account_id: int
) -> None:
    lines = [
        "name,number",
        "Ali,96550000001",
        "Office,+965 2234 5678",  # a landline
        "Typo,9655000",
        "Nobody,",
        "N" * 101 + ",96550000009",
        "Ctrl\x00,96550000008",
        "Too,many,fields",
    ]
    data = "\n".join(lines)

    report = await run_import(db_sessions, account_id, data)

    assert report.added == 1
    assert [(p.line, p.reason) for p in report.rejected] == [
        (3, "invalid number: not a mobile number"),
        (4, "invalid number: not a valid number (check the country code and length)"),
        (5, "no number"),
        (6, "name longer than 100 characters"),
        (7, "name holds control characters"),
        (8, "expected name,number or a number alone, got 3 fields"),
    ]
    assert report.rejected[0].raw == "Office,+965 2234 5678"


async def test_national_numbers_are_read_as_numbers_of_the_accounts_home_country(
    db_sessions: SessionFactory,
) -> None:
    saudi = await add_account(db_sessions, "saad", home_country="SA")

    report = await run_import(db_sessions, saudi, "0501234567\n")

    assert report.added == 1
    assert await members(db_sessions, saudi) == [("", "966501234567")]


async def test_repeats_in_the_file_and_numbers_already_in_the_group_are_duplicates(
    db_sessions: SessionFactory, account_id: int
) -> None:
    await run_import(db_sessions, account_id, "Ali,96550000001\n")

    report = await run_import(
        db_sessions,
        account_id,
        "Ali again,+965 5000 0001\nMona,96550000002\nMona twice,0096550000002\n",
    )

    assert (report.added, report.duplicates, report.rejected) == (1, 2, [])
    assert await members(db_sessions, account_id) == [
        ("Ali", "96550000001"),  # the first name given stays
        ("Mona", "96550000002"),
    ]


@pytest.mark.parametrize(("room", "added"), [(2, 2), (3, 3), (4, 3)])
async def test_rows_past_the_group_limit_are_refused(
    db_sessions: SessionFactory, account_id: int, room: int, added: int
) -> None:
    data = "96550000001\n96550000002\n96550000003\n"

    report = await run_import(db_sessions, account_id, data, limit=room)

    assert report.added == added
    assert [(p.line, p.reason) for p in report.rejected] == [
        (line, f"the group is full ({room} numbers)") for line in range(added + 1, 4)
    ]


async def test_an_existing_group_counts_toward_the_limit(
    db_sessions: SessionFactory, account_id: int
) -> None:
    await run_import(db_sessions, account_id, "96550000001\n96550000002\n")

    report = await run_import(db_sessions, account_id, "96550000003\n96550000004\n", limit=3)

    assert (report.added, len(report.rejected)) == (1, 1)


async def test_groups_of_the_same_name_belong_to_each_account(
    db_sessions: SessionFactory, account_id: int
) -> None:
    other = await add_account(db_sessions, "bob")

    await run_import(db_sessions, account_id, "96550000001\n")
    await run_import(db_sessions, other, "96550000002\n")

    async with db_sessions() as session:
        assert await group_numbers(session, account_id, "customers") == ["96550000001"]
        assert await group_numbers(session, other, "customers") == ["96550000002"]


async def test_concurrent_imports_into_a_new_group_make_one_group_without_repeats(
    db_sessions: SessionFactory, account_id: int
) -> None:
    files = ["96550000001\n96550000002\n", "96550000002\n96550000003\n"]

    reports = await asyncio.gather(*(run_import(db_sessions, account_id, f) for f in files))

    assert sum(r.added for r in reports) == 3
    assert sum(r.duplicates for r in reports) == 1
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ContactGroup)) == 1
        assert sorted(await group_numbers(session, account_id, "customers")) == [
            "96550000001",
            "96550000002",
            "96550000003",
        ]


@pytest.mark.parametrize("name", ["", "   ", "a/b", "tab\there", "x" * 65])
async def test_a_group_name_must_be_printable_without_a_slash(
    db_sessions: SessionFactory, account_id: int, name: str
) -> None:
    with pytest.raises(InvalidGroupName):
        await run_import(db_sessions, account_id, "96550000001\n", group=name)


async def test_asking_for_an_unknown_group_fails(
    db_sessions: SessionFactory, account_id: int
) -> None:
    async with db_sessions() as session:
        with pytest.raises(GroupNotFound, match="no contact group named 'vip'"):
            await group_numbers(session, account_id, "vip")


def test_report_as_json() -> None:
    report = ImportReport("vip", 2, 1, [RowProblem(4, "x,y", "invalid number: no digits")])

    assert report.to_json() == {
        "group": "vip",
        "added": 2,
        "duplicates": 1,
        "rejected": [{"line": 4, "raw": "x,y", "reason": "invalid number: no digits"}],
    }
