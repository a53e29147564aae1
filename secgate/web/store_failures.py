"""Store failures: which exceptions mean that the database or the hot state did not
answer, as against a bug.

A request whose store fails is answered 503 (`secgate.web.errors`; ERR013 under
/API/), not 500: nothing is wrong with the request or with the code, retrying later
may succeed, and /healthz reports the same store unavailable. On the database that is:

- no connection could be had: the exception came up through SQLAlchemy's pool while it
  opened or handed out a connection (refused, timed out, the server refusing the login,
  the database or one more connection, the pool exhausted, SQLite unable to open the
  file). A statement never runs inside the pool, so its errors are not among these;
- the connection was lost under a statement (SQLAlchemy invalidated it);
- the server or the driver says that the connection or the server is going away or out
  of resources: SQLSTATE class 08 (connection exception), 53 (insufficient resources),
  57P (shutdown, cannot connect now, database dropped, idle session timeout; not
  57014, a cancelled statement); asyncpg's InternalClientError, which a statement sent
  in the moment between the server's FATAL message and its closing of the socket gets
  ("cannot switch to state 15; another operation (2) is in progress"), before the
  driver has seen the connection closed;
- SQLite: busy or locked beyond the busy timeout, out of memory, read-only (the file
  moved or the disk remounted), an I/O error, the disk full, the file not openable.

On the hot state: `HotStateUnavailable` (`RedisHotState` turns every redis-py and
socket error into it, so no redis-py exception reaches a handler).

Everything else is a bug and stays a 500: a statement the database refuses (bad SQL, a
missing table, a constraint, a serialisation failure or deadlock), any other exception.
"""

from __future__ import annotations

import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from asyncpg.exceptions import InternalClientError
from sqlalchemy import exc as sa_exc

from secgate.hotstate.protocol import HotStateUnavailable

# The names /healthz gives the stores.
DATABASE = "database"
HOT_STATE = "hot_state"

_POOL_PACKAGE = "sqlalchemy.pool"
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
# Primary result codes (the low byte of an extended code).
_UNAVAILABLE_SQLITE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
_REASON_MAX_CHARS = 300


@dataclass(frozen=True, slots=True)
class StoreFailure:
    store: str  # DATABASE or HOT_STATE
    # The driver's words, for the log: never a statement or its parameters.
    reason: str


def store_failure(exc: BaseException) -> StoreFailure | None:
    """What store `exc` says did not answer; None when it is not a store failure."""
    chain = list(_causes(exc))
    if any(isinstance(link, HotStateUnavailable) for link in chain):
        return StoreFailure(HOT_STATE, _reason(chain[-1]))
    if any(_database_unavailable(link) for link in chain):
        return StoreFailure(DATABASE, _reason(chain[-1]))
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps (SQLAlchemy's and the driver adapters' `orig`, or the
    explicit `__cause__`), down to the driver's own error."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        link = orig if isinstance(orig, BaseException) else link.__cause__


def _database_unavailable(link: BaseException) -> bool:
    if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
        return True
    if isinstance(link, InternalClientError):
        return True
    sqlstate = getattr(link, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    sqlite_code = getattr(link, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in _UNAVAILABLE_SQLITE_CODES:
        return True
    return _raised_in_the_pool(link)


def _raised_in_the_pool(link: BaseException) -> bool:
    for frame, _ in traceback.walk_tb(link.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module == _POOL_PACKAGE or module.startswith(_POOL_PACKAGE + "."):
            return True
    return False


def _reason(root: BaseException) -> str:
    # SQLAlchemy's own messages quote the statement and its parameters.
    if isinstance(root, sa_exc.StatementError):
        return type(root).__name__
    return f"{type(root).__name__}: {root}"[:_REASON_MAX_CHARS]
