"""Contact groups: importing numbers from CSV with a report on every row refused, and
reading a group back (for a group send).

An import file is UTF-8 text (a byte-order mark is fine, as are CRLF line ends and
blank lines), one contact a line:

    name,number          a header line like this one is skipped: a first line whose
    Ali,+965 5000 0001   number column holds no digit is taken for a header
    "Doe, Jane",٩٦٥٥٠٠٠٠٠٠٢
    96550000003          a number alone, without a name

Fields may be quoted as in any CSV. The separator is a comma, or a semicolon or tab
when the first line has none of the others (spreadsheets in some locales). Numbers
are read as the messaging API reads them (secgate.sms.numbers): "+", "00", spaces,
dashes and Arabic-Indic digits are fine, a number without its country code is read
as one of the account's home country, and it must be a mobile. Each contact is one
line: a quoted field cannot run over a line end.

A number already in the group, or earlier in the same file, is a duplicate: counted,
not added again (the first name given for it stays). Every other line that cannot be
imported is in the report's `rejected`, with its line number, its text and why.
"""

from __future__ import annotations

import asyncio
import csv
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.sms.numbers import InvalidNumber, normalize_msisdn
from secgate.storage.models import Account, Contact, ContactGroup

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_LINES = 50_000
MAX_GROUP_NAME_CHARS = 64  # ContactGroup.name
MAX_CONTACT_NAME_CHARS = 100  # Contact.name
MAX_SHOWN_CHARS = 200  # of a rejected line, in the report
# Rows per INSERT: well within both databases' limits on bound parameters.
_INSERT_CHUNK = 1000


class ContactsError(Exception):
    """An import or lookup that cannot be done at all; the message says why."""


class InvalidImport(ContactsError):
    pass


class InvalidGroupName(ContactsError):
    pass


class GroupNotFound(ContactsError):
    pass


@dataclass(frozen=True, slots=True)
class ContactRow:
    line: int  # 1-based, in the file (or the position in a JSON list)
    raw: str  # as given, for the report
    name: str
    number: str  # as given; normalised on import


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    raw: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "raw": self.raw, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ImportReport:
    group: str
    added: int
    duplicates: int
    rejected: list[RowProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "added": self.added,
            "duplicates": self.duplicates,
            "rejected": [problem.to_json() for problem in self.rejected],
        }


def check_group_name(name: str) -> str:
    """The group name, stripped; InvalidGroupName if it cannot be one."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_GROUP_NAME_CHARS:
        raise InvalidGroupName(f"a group name is 1 to {MAX_GROUP_NAME_CHARS} characters")
    # No "/": the name is a path segment of the contacts API.
    if "/" in name or not name.isprintable():
        raise InvalidGroupName("a group name cannot hold '/' or control characters")
    return name


def parse_csv(data: bytes | str) -> tuple[list[ContactRow], list[RowProblem]]:
    """The contact lines of an import file, and the lines refused as they stand.
    InvalidImport when the file as a whole cannot be read."""
    text = _decode(data)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) > MAX_IMPORT_LINES:
        raise InvalidImport(f"the file has more than {MAX_IMPORT_LINES} lines")
    delimiter = _delimiter(lines)
    rows: list[ContactRow] = []
    problems: list[RowProblem] = []
    first = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            [fields] = list(csv.reader([line], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            problems.append(RowProblem(number, _shown(line), f"malformed CSV: {exc}"))
            continue
        fields = [f.strip() for f in fields]
        while len(fields) > 2 and fields[-1] == "":  # empty columns a spreadsheet added
            fields.pop()
        is_header = first and not any(char.isdigit() for char in fields[-1])
        first = False
        if is_header:
            continue
        if len(fields) > 2:
            problems.append(
                RowProblem(
                    number,
                    _shown(line),
                    f"expected name,number or a number alone, got {len(fields)} fields",
                )
            )
            continue
        name, mobile = ("", fields[0]) if len(fields) == 1 else (fields[0], fields[1])
        rows.append(ContactRow(number, _shown(line), name, mobile))
    return rows, problems


async def import_csv(
    session: AsyncSession,
    account_id: int,
    group_name: str,
    data: bytes | str,
    *,
    max_group_numbers: int,
) -> ImportReport:
    """Import a CSV file into the account's group (created if new). The caller commits."""
    rows, problems = await asyncio.to_thread(parse_csv, data)
    return await import_rows(
        session,
        account_id,
        group_name,
        rows,
        max_group_numbers=max_group_numbers,
        problems=problems,
    )


async def import_rows(
    session: AsyncSession,
    account_id: int,
    group_name: str,
    rows: Sequence[ContactRow],
    *,
    max_group_numbers: int,
    problems: Sequence[RowProblem] = (),
) -> ImportReport:
    """Add the contacts to the account's group (created if new), at most
    `max_group_numbers` in the group; `problems` are rows already refused, reported
    with the rest. The caller commits."""
    group_name = check_group_name(group_name)
    home = await session.scalar(select(Account.home_country).where(Account.id == account_id))
    if home is None:
        raise ContactsError(f"no account with id {account_id}")
    # Reading numbers is CPU work (tens of microseconds each): off the event loop.
    contacts, refused = await asyncio.to_thread(_read_numbers, rows, home)
    rejected = [*problems, *refused]

    group_id = await _group_id(session, account_id, group_name)
    existing = set(
        await session.scalars(select(Contact.number).where(Contact.group_id == group_id))
    )
    room = max_group_numbers - len(existing)
    new: dict[str, ContactRow] = {}
    duplicates = 0
    for row in contacts:
        if row.number in existing or row.number in new:
            duplicates += 1
        elif len(new) >= room:
            rejected.append(
                RowProblem(row.line, row.raw, f"the group is full ({max_group_numbers} numbers)")
            )
        else:
            new[row.number] = row
    added = await _insert(session, group_id, list(new.values()))
    # A number another import added meanwhile is a duplicate too.
    duplicates += len(new) - added
    rejected.sort(key=lambda problem: problem.line)
    return ImportReport(group_name, added, duplicates, rejected)


async def find_group(session: AsyncSession, account_id: int, group_name: str) -> ContactGroup:
    """The account's group of that name; GroupNotFound if it has none."""
    try:
        name = check_group_name(group_name)
    except InvalidGroupName:
        name = None  # no group can have it: no need to ask the database
    group = None
    if name is not None:
        group = await session.scalar(
            select(ContactGroup).where(
                ContactGroup.account_id == account_id, ContactGroup.name == name
            )
        )
    if group is None:
        raise GroupNotFound(f"no contact group named {group_name.strip()[:100]!r}")
    return group


async def group_contacts(session: AsyncSession, account_id: int, group_name: str) -> list[Contact]:
    """The contacts of the account's group, in the order they were added."""
    group = await find_group(session, account_id, group_name)
    return list(
        await session.scalars(
            select(Contact).where(Contact.group_id == group.id).order_by(Contact.id)
        )
    )


async def group_numbers(session: AsyncSession, account_id: int, group_name: str) -> list[str]:
    """The numbers of the account's group, in the order they were added."""
    group = await find_group(session, account_id, group_name)
    return list(
        await session.scalars(
            select(Contact.number).where(Contact.group_id == group.id).order_by(Contact.id)
        )
    )


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        if len(data.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
            raise InvalidImport(f"the file is over {MAX_IMPORT_BYTES} bytes")
        return data.removeprefix("\ufeff")
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidImport(f"the file is over {MAX_IMPORT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidImport(
            f"the file is not UTF-8 (byte {exc.start}): save it as CSV UTF-8"
        ) from None


def _delimiter(lines: Sequence[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    if "," in first:
        return ","
    for candidate in (";", "\t"):
        if candidate in first:
            return candidate
    return ","


def _shown(line: str) -> str:
    return line if len(line) <= MAX_SHOWN_CHARS else line[: MAX_SHOWN_CHARS - 1] + "…"


def _read_numbers(
    rows: Sequence[ContactRow], home_country: str
) -> tuple[list[ContactRow], list[RowProblem]]:
    """Rows with their numbers normalised, and the rows refused with why."""
    contacts: list[ContactRow] = []
    refused: list[RowProblem] = []
    for row in rows:
        problem = _name_problem(row.name)
        if problem is None and not row.number:
            problem = "no number"
        if problem is None:
            try:
                number = normalize_msisdn(row.number, default_region=home_country)
            except InvalidNumber as exc:
                problem = f"invalid number: {exc}"
            else:
                contacts.append(ContactRow(row.line, row.raw, row.name, number))
                continue
        refused.append(RowProblem(row.line, row.raw, problem))
    return contacts, refused


def _name_problem(name: str) -> str | None:
    if len(name) > MAX_CONTACT_NAME_CHARS:
        return f"name longer than {MAX_CONTACT_NAME_CHARS} characters"
    # Control characters (NUL among them) cannot be stored on PostgreSQL or shown.
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "name holds control characters"
    return None


def _insert_statement(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def _group_id(session: AsyncSession, account_id: int, name: str) -> int:
    found = select(ContactGroup.id).where(
        ContactGroup.account_id == account_id, ContactGroup.name == name
    )
    group_id = await session.scalar(found)
    if group_id is None:
        # Two imports creating one group at once: the unique constraint picks one row.
        insert = _insert_statement(session)
        await session.execute(
            insert(ContactGroup).values(account_id=account_id, name=name).on_conflict_do_nothing()
        )
        group_id = await session.scalar(found)
    assert group_id is not None
    return group_id


async def _insert(session: AsyncSession, group_id: int, rows: Sequence[ContactRow]) -> int:
    """Insert the contacts, skipping numbers already there; how many were added."""
    insert = _insert_statement(session)
    added = 0
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        inserted = await session.scalars(
            insert(Contact)
            .values([{"group_id": group_id, "name": r.name, "number": r.number} for r in chunk])
            .on_conflict_do_nothing()
            .returning(Contact.id)
        )
        added += len(inserted.all())
    return added
