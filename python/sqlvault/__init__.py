"""sqlvault: encrypted SQLite for asyncio.

Every page of the database, its WAL and its temp files is sealed with AES-256-GCM. A database
is a pool of one writer connection and N read-only readers, each on its own thread in the Rust
driver; this package never runs SQLite (or key derivation) on the event loop.

    db = await sqlvault.open("app.db", key="passphrase")
    async with db.write_ctx() as cur:
        await cur.execute("INSERT INTO t VALUES (?)", (1,))
    async with db.read_ctx() as cur:
        async for row in await cur.execute("SELECT * FROM t"):
            ...
    await db.close()

``db.sync`` is a blocking view of the same pool, for code that is not async yet.
"""

from __future__ import annotations

import atexit
import collections
import os
import re
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Tuple, Union

from . import _sqlvault
from ._sqlvault import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotADatabase,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    TamperedPage,
    Warning,
    WrongKey,
)

__all__ = [
    "open", "open_sync", "RawKey", "Database", "SyncDatabase", "Cursor", "SyncCursor", "ResultSet",
    "import_sqlcipher", "import_sqlite",
    "Error", "Warning", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
    "WrongKey", "TamperedPage", "NotADatabase",
    "apilevel", "threadsafety", "paramstyle",
]

#: DB-API 2.0 module globals.
apilevel = "2.0"
#: Threads may share the module, databases and (one at a time) cursors.
threadsafety = 2
#: ``?`` placeholders; ``:name`` with a mapping works too.
paramstyle = "qmark"

Params = Union[Sequence[Any], Mapping[str, Any], None]
Row = Tuple[Any, ...]

_HEX_KEY = re.compile(r"^x'([0-9a-fA-F]{64})'$")
#: Rows fetched from the connection thread per trip while iterating.
_BATCH = 256

# Before the interpreter finalizes, let the runtime's tasks that are handing their last
# results to asyncio finish (see `wait_idle` in python/src/runtime.rs).
atexit.register(_sqlvault.wait_idle, 1.0)


class RawKey:
    """A raw 32-byte key (no key derivation), as opposed to a passphrase."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        key = bytes(key)
        if len(key) != 32:
            raise ValueError("a raw key is exactly 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "RawKey(<redacted>)"


Key = Union[str, bytes, RawKey]


def _key_args(key: Key) -> dict:
    """``passphrase=`` or ``raw=`` for the native layer."""
    if isinstance(key, RawKey):
        return {"raw": key._key}
    if isinstance(key, (bytes, bytearray, memoryview)):
        return {"passphrase": bytes(key)}
    if isinstance(key, str):
        m = _HEX_KEY.match(key)
        if m:
            return {"raw": bytes.fromhex(m.group(1))}
        if key.startswith(("x'", "X'")):
            raise ValueError("a raw key is written x'<64 hex digits>'")
        return {"passphrase": key.encode("utf-8")}
    raise TypeError("key must be a str or bytes passphrase, a RawKey or \"x'<64 hex>'\"")


def _options(readers: Optional[int], options: dict) -> dict:
    out = dict(options)
    if readers is not None:
        out["readers"] = readers
    return out


async def open(path: Union[str, os.PathLike], key: Key, readers: Optional[int] = None, **options: Any) -> "Database":
    """Opens (or creates) the encrypted database at ``path``.

    ``key`` is a passphrase (``str`` or ``bytes``; Argon2id runs on the driver's threads) or a
    raw 32-byte key (``RawKey(b)`` or ``"x'<64 hex>'"``). ``readers`` is the number of reader
    connections (default: the number of cores, at least 2). Other options: ``page_size``,
    ``busy_timeout`` (seconds), ``cache_size_kib``, ``statement_cache``, ``queue_capacity``,
    ``synchronous`` (``"full"`` or ``"normal"``), ``create_if_missing``, ``argon2``
    (``(memory_kib, iterations, parallelism)``, used when the database is created).

    Raises ``WrongKey``, ``NotADatabase`` (a plaintext SQLite file, or not a database),
    ``TamperedPage`` or ``OperationalError``.
    """
    raw = await _sqlvault.open(os.fspath(path), options=_options(readers, options), **_key_args(key))
    return Database(raw)


def open_sync(path: Union[str, os.PathLike], key: Key, readers: Optional[int] = None, **options: Any) -> "SyncDatabase":
    """``open`` for code without an event loop: blocks the calling thread (GIL released)."""
    raw = _sqlvault.open_sync(os.fspath(path), options=_options(readers, options), **_key_args(key))
    return SyncDatabase(raw)


def _description(columns: Optional[Sequence[str]]):
    if columns is None:
        return None
    return tuple((name, None, None, None, None, None, None) for name in columns)


class _Level:
    """The open levels (transaction, savepoints) of one transaction, innermost last."""

    __slots__ = ("tx", "stack", "ended")

    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.stack: list = []
        self.ended = False


class _CursorBase:
    """What the async and the blocking cursor share: results and DB-API attributes."""

    #: Rows ``fetchmany()`` returns without a size (DB-API default).
    arraysize: int

    def __init__(self, level: Optional[_Level], marker: Any) -> None:
        self._level = level
        self._marker = marker
        self.arraysize = 1
        self.description: Optional[tuple] = None
        self.rowcount = -1
        self.lastrowid: Optional[int] = None
        self._buffer: collections.deque = collections.deque()
        self._more = False

    def _tx(self) -> Any:
        lv = self._level
        # `_marker` is this cursor's own marker: the transaction's level for depth 0, a
        # savepoint's marker object otherwise (so a cursor of an ended savepoint never
        # passes for a later one at the same depth).
        if lv is None or lv.ended or (self._marker is not lv and self._marker not in lv.stack):
            raise ProgrammingError("this cursor's transaction or savepoint has ended")
        innermost = lv.stack[-1] if lv.stack else lv
        if innermost is not self._marker:
            raise ProgrammingError("a savepoint of this cursor is open: use the savepoint's cursor until it ends")
        return lv.tx

    def _took(self, outcome: tuple) -> None:
        columns, rowcount, lastrowid = outcome[:3]
        self.description = _description(columns)
        self.rowcount = rowcount
        if lastrowid is not None:
            self.lastrowid = lastrowid
        self._buffer.clear()
        self._more = columns is not None

    def _reset(self) -> None:
        self._buffer.clear()
        self._more = False


class Cursor(_CursorBase):
    """A cursor inside a read transaction, a write transaction or a savepoint (async)."""

    async def execute(self, sql: str, parameters: Params = None) -> "Cursor":
        """Runs one statement with ``?`` (sequence) or ``:name`` (mapping) parameters.
        Rows are then read with ``fetch*`` or ``async for``, streamed as they are read."""
        tx = self._tx()
        self._reset()
        self._took(await tx.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Params]) -> "Cursor":
        """Runs one statement once per parameter set, in one trip to the connection thread."""
        tx = self._tx()
        self._reset()
        self._took(await tx.executemany(sql, list(seq_of_parameters)))
        return self

    async def executescript(self, sql_script: str) -> "Cursor":
        """Runs ``;``-separated statements (no parameters) inside this transaction."""
        tx = self._tx()
        self._reset()
        await tx.executescript(sql_script)
        return self

    async def _fill(self, want: int) -> None:
        # Rows come in batches (converted to Python as each batch arrives); the query itself
        # stays on its connection thread, which waits while the batches are not read.
        while self._more and len(self._buffer) < want:
            rows = await self._tx().fetch(max(want - len(self._buffer), _BATCH))
            if not rows:
                self._more = False
            self._buffer.extend(rows)

    async def fetchone(self) -> Optional[Row]:
        """The next row, or ``None``."""
        await self._fill(1)
        return self._buffer.popleft() if self._buffer else None

    async def fetchmany(self, size: Optional[int] = None) -> list:
        """Up to ``size`` (default ``arraysize``) more rows."""
        n = self.arraysize if size is None else size
        await self._fill(n)
        return [self._buffer.popleft() for _ in range(min(n, len(self._buffer)))]

    async def fetchall(self) -> list:
        """Every remaining row."""
        out = list(self._buffer)
        self._buffer.clear()
        while self._more:
            rows = await self._tx().fetch(_BATCH)
            if not rows:
                self._more = False
            out.extend(rows)
        return out

    def __aiter__(self) -> "Cursor":
        return self

    async def __anext__(self) -> Row:
        await self._fill(1)
        if not self._buffer:
            raise StopAsyncIteration
        return self._buffer.popleft()

    def savepoint_ctx(self) -> "_SavepointCtx":
        """``async with cursor.savepoint_ctx() as inner:`` a nested savepoint, released on a
        normal exit, rolled back to on an exception (the outer transaction goes on)."""
        return _SavepointCtx(self)


class _SavepointCtx:
    def __init__(self, parent: Cursor) -> None:
        self._parent = parent

    async def __aenter__(self) -> Cursor:
        tx = self._parent._tx()
        self._parent._reset()
        await tx.savepoint()
        lv = self._parent._level
        marker = object()
        lv.stack.append(marker)
        return Cursor(lv, marker)

    async def __aexit__(self, exc_type, exc, tb) -> None:
        lv = self._parent._level
        try:
            if exc_type is None:
                await lv.tx.end(True)
            else:
                try:
                    await lv.tx.end(False)
                except Error:
                    # The exception in flight says what went wrong; a failed rollback still
                    # ends the level (the driver rolls back when the transaction is let go).
                    pass
        finally:
            lv.stack.pop()


class _TxCtx:
    def __init__(self, raw: Any, write: bool) -> None:
        self._raw = raw
        self._write = write
        self._level: Optional[_Level] = None

    async def __aenter__(self) -> Cursor:
        self._level = _Level(await self._raw.begin(self._write))
        return Cursor(self._level, self._level)

    async def __aexit__(self, exc_type, exc, tb) -> None:
        lv = self._level
        try:
            if exc_type is None:
                await lv.tx.end(True)
            else:
                try:
                    await lv.tx.end(False)
                except Error:
                    # The exception in flight says what went wrong; a failed rollback still
                    # ends the level (the driver rolls back when the transaction is let go).
                    pass
        finally:
            lv.ended = True
            # If the end did not get through (cancelled again), the driver rolls back.
            lv.tx.abandon()


class ResultSet(_CursorBase):
    """The result of ``db.execute(...)``: every row already read, and the cursor
    attributes (``description``, ``rowcount``, ``lastrowid``)."""

    def __init__(self, outcome: tuple) -> None:
        super().__init__(None, None)
        self._took(outcome)
        self._buffer.extend(outcome[3])
        self._more = False

    def fetchone(self) -> Optional[Row]:
        """The next row, or ``None``."""
        return self._buffer.popleft() if self._buffer else None

    def fetchmany(self, size: Optional[int] = None) -> list:
        """Up to ``size`` (default ``arraysize``) more rows."""
        n = self.arraysize if size is None else size
        return [self._buffer.popleft() for _ in range(min(n, len(self._buffer)))]

    def fetchall(self) -> list:
        """Every remaining row."""
        out = list(self._buffer)
        self._buffer.clear()
        return out

    def __iter__(self) -> Iterator[Row]:
        while self._buffer:
            yield self._buffer.popleft()


class Database:
    """An open database (async). Also an async context manager that closes it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        #: The blocking view of this same pool.
        self.sync = SyncDatabase(raw)

    @property
    def path(self) -> str:
        """The path the database was opened at."""
        return self._raw.path

    @property
    def readers(self) -> int:
        """How many reader connections the pool has."""
        return self._raw.readers

    def read_ctx(self) -> _TxContextManager:
        """``async with db.read_ctx() as cursor:`` a read transaction on one snapshot."""
        return _TxCtx(self._raw, False)

    def write_ctx(self) -> _TxContextManager:
        """``async with db.write_ctx() as cursor:`` a write transaction (``BEGIN IMMEDIATE``,
        writers served first come first served), committed on a normal exit, rolled back on an
        exception or a cancellation."""
        return _TxCtx(self._raw, True)

    async def execute(self, sql: str, parameters: Params = None) -> ResultSet:
        """Runs one statement in a transaction of its own, in one trip: on a free reader if
        the statement only reads (SQLite says so once it is prepared), else on the writer.
        Returns a ``ResultSet`` (``description``, ``rowcount``, ``lastrowid``, ``fetch*``)
        holding every row: use a cursor to stream a large result."""
        return ResultSet(await self._raw.run(sql, parameters))

    async def fetchone(self, sql: str, parameters: Params = None) -> Optional[Row]:
        """The first row of a one-statement query (or ``None``)."""
        rows = (await self._raw.run(sql, parameters, 1))[3]
        return rows[0] if rows else None

    async def fetchall(self, sql: str, parameters: Params = None) -> list:
        """Every row of a one-statement query."""
        return (await self._raw.run(sql, parameters))[3]

    async def rekey(self, new_key: Key) -> None:
        """Re-encrypts the database under ``new_key`` while it stays open (waits for running
        transactions; others wait for it)."""
        await self._raw.rekey(**_key_args(new_key))

    async def close(self) -> None:
        """Closes the pool once running transactions have ended."""
        await self._raw.close()

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()


_TxContextManager = _TxCtx


class SyncCursor(_CursorBase):
    """The blocking twin of ``Cursor``: same names, no ``await``."""

    def execute(self, sql: str, parameters: Params = None) -> "SyncCursor":
        """Runs one statement (``?`` sequence or ``:name`` mapping parameters); rows are streamed as they are read."""
        tx = self._tx()
        self._reset()
        self._took(tx.execute_sync(sql, parameters))
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params]) -> "SyncCursor":
        """Runs one statement once per parameter set, in one trip to the connection thread."""
        tx = self._tx()
        self._reset()
        self._took(tx.executemany_sync(sql, list(seq_of_parameters)))
        return self

    def executescript(self, sql_script: str) -> "SyncCursor":
        """Runs ``;``-separated statements (no parameters) inside this transaction."""
        tx = self._tx()
        self._reset()
        tx.executescript_sync(sql_script)
        return self

    def _fill(self, want: int) -> None:
        while self._more and len(self._buffer) < want:
            rows = self._tx().fetch_sync(max(want - len(self._buffer), _BATCH))
            if not rows:
                self._more = False
            self._buffer.extend(rows)

    def fetchone(self) -> Optional[Row]:
        """The next row, or ``None``."""
        self._fill(1)
        return self._buffer.popleft() if self._buffer else None

    def fetchmany(self, size: Optional[int] = None) -> list:
        """Up to ``size`` (default ``arraysize``) more rows."""
        n = self.arraysize if size is None else size
        self._fill(n)
        return [self._buffer.popleft() for _ in range(min(n, len(self._buffer)))]

    def fetchall(self) -> list:
        """Every remaining row."""
        out = list(self._buffer)
        self._buffer.clear()
        while self._more:
            rows = self._tx().fetch_sync(_BATCH)
            if not rows:
                self._more = False
            out.extend(rows)
        return out

    def __iter__(self) -> "SyncCursor":
        return self

    def __next__(self) -> Row:
        self._fill(1)
        if not self._buffer:
            raise StopIteration
        return self._buffer.popleft()

    def savepoint_ctx(self) -> "_SyncSavepointCtx":
        """``with cursor.savepoint_ctx() as inner:`` a nested savepoint."""
        return _SyncSavepointCtx(self)


class _SyncSavepointCtx:
    def __init__(self, parent: SyncCursor) -> None:
        self._parent = parent

    def __enter__(self) -> SyncCursor:
        tx = self._parent._tx()
        self._parent._reset()
        tx.savepoint_sync()
        lv = self._parent._level
        marker = object()
        lv.stack.append(marker)
        return SyncCursor(lv, marker)

    def __exit__(self, exc_type, exc, tb) -> None:
        lv = self._parent._level
        try:
            if exc_type is None:
                lv.tx.end_sync(True)
            else:
                try:
                    lv.tx.end_sync(False)
                except Error:
                    # The exception in flight says what went wrong; a failed rollback still
                    # ends the level (the driver rolls back when the transaction is let go).
                    pass
        finally:
            lv.stack.pop()


class _SyncTxCtx:
    def __init__(self, raw: Any, write: bool) -> None:
        self._raw = raw
        self._write = write
        self._level: Optional[_Level] = None

    def __enter__(self) -> SyncCursor:
        self._level = _Level(self._raw.begin_sync(self._write))
        return SyncCursor(self._level, self._level)

    def __exit__(self, exc_type, exc, tb) -> None:
        lv = self._level
        try:
            if exc_type is None:
                lv.tx.end_sync(True)
            else:
                try:
                    lv.tx.end_sync(False)
                except Error:
                    # The exception in flight says what went wrong; a failed rollback still
                    # ends the level (the driver rolls back when the transaction is let go).
                    pass
        finally:
            lv.ended = True
            lv.tx.abandon()


class SyncDatabase:
    """A blocking view of a pool: the names of ``Database`` without ``await``. Safe to use
    from several threads, and side by side with async code on the same pool."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def path(self) -> str:
        """The path the database was opened at."""
        return self._raw.path

    @property
    def readers(self) -> int:
        """How many reader connections the pool has."""
        return self._raw.readers

    @property
    def aio(self) -> Database:
        """The async view of this same pool."""
        return Database(self._raw)

    def read_ctx(self) -> _SyncTxCtx:
        """``with db.sync.read_ctx() as cursor:`` a read transaction."""
        return _SyncTxCtx(self._raw, False)

    def write_ctx(self) -> _SyncTxCtx:
        """``with db.sync.write_ctx() as cursor:`` a write transaction."""
        return _SyncTxCtx(self._raw, True)

    def execute(self, sql: str, parameters: Params = None) -> ResultSet:
        """Blocking ``Database.execute``: one statement on a free reader or the writer."""
        return ResultSet(self._raw.run_sync(sql, parameters))

    def fetchone(self, sql: str, parameters: Params = None) -> Optional[Row]:
        """The first row of a one-statement query (or ``None``)."""
        rows = self._raw.run_sync(sql, parameters, 1)[3]
        return rows[0] if rows else None

    def fetchall(self, sql: str, parameters: Params = None) -> list:
        """Every row of a one-statement query."""
        return self._raw.run_sync(sql, parameters)[3]

    def rekey(self, new_key: Key) -> None:
        """Re-encrypts the database under ``new_key`` while it stays open."""
        self._raw.rekey_sync(**_key_args(new_key))

    def close(self) -> None:
        """Closes the pool once running transactions have ended."""
        self._raw.close_sync()

    def __enter__(self) -> "SyncDatabase":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


ProgressCallback = Callable[[str, int, int], None]


def import_sqlcipher(
    src: Union[str, os.PathLike],
    dst: Union[str, os.PathLike],
    *,
    source_key: str,
    key: Key,
    progress: Optional[ProgressCallback] = None,
    kdf_iter: Optional[int] = None,
    page_size: Optional[int] = None,
    legacy: Optional[int] = None,
    argon2: Optional[Tuple[int, int, int]] = None,
    target_page_size: int = 4096,
) -> dict:
    """Imports a SQLCipher 2, 3 or 4 database ``src`` into a new sqlvault database ``dst``,
    as ``sqlvault import`` does: read natively (no SQLCipher library), decrypted in memory
    only, copied logically, checked, and renamed into place only once complete.

    ``source_key`` is SQLCipher's ``PRAGMA key`` (a passphrase, or ``"x'<hex>'"``); ``key``
    is the new database's. Each version's defaults are tried unless ``legacy`` (2, 3 or 4)
    names one; ``kdf_iter`` and ``page_size`` override the source's settings.
    ``progress(stage, done, total)`` is called with ``stage`` ``"decrypt"`` (pages) then
    ``"copy"`` (tables). Blocks the calling thread (GIL released): from async code, run it
    with ``asyncio.to_thread``. Returns a report: ``source``, ``tables`` ({name: rows}),
    ``other_objects``, ``user_version``, ``application_id``.

    Raises ``WrongKey`` (wrong source key, or not a SQLCipher file), ``TamperedPage``,
    ``OperationalError`` (``dst`` exists, ``src`` is missing or plaintext…).
    """
    return _sqlvault.import_sqlcipher(
        os.fspath(src), os.fspath(dst), source_key, progress=progress, kdf_iter=kdf_iter,
        page_size=page_size, legacy=legacy, argon2=argon2, target_page_size=target_page_size,
        **_key_args(key),
    )


def import_sqlite(
    src: Union[str, os.PathLike],
    dst: Union[str, os.PathLike],
    *,
    key: Key,
    progress: Optional[ProgressCallback] = None,
    argon2: Optional[Tuple[int, int, int]] = None,
    target_page_size: int = 4096,
) -> dict:
    """Imports a plaintext SQLite database (its WAL included) into a new sqlvault database;
    otherwise as ``import_sqlcipher``."""
    return _sqlvault.import_sqlite(
        os.fspath(src), os.fspath(dst), progress=progress, argon2=argon2,
        target_page_size=target_page_size, **_key_args(key),
    )
