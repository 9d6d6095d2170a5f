"""The cursor API: statements, parameters, values, results, shortcuts, keys, open/close."""

import asyncio
import os

import pytest

import sqlvault
from conftest import FAST, KEY


async def test_values_round_trip_both_ways(db):
    async with db.write_ctx() as cur:
        await cur.execute("CREATE TABLE v(i INTEGER, f REAL, s TEXT, b BLOB, n)")
        row = (2**62, 3.25, "héllo ✓", b"\x00\xff\x10", None)
        await cur.execute("INSERT INTO v VALUES (?, ?, ?, ?, ?)", row)
        await cur.execute("INSERT INTO v VALUES (?, ?, ?, ?, ?)", (-1, -0.5, "", b"", None))
    async with db.read_ctx() as cur:
        await cur.execute("SELECT i, f, s, b, n FROM v ORDER BY i DESC")
        assert await cur.fetchone() == row
        assert await cur.fetchone() == (-1, -0.5, "", b"", None)
        assert await cur.fetchone() is None
        types = await (await cur.execute("SELECT typeof(i), typeof(f), typeof(s), typeof(b), typeof(n) FROM v LIMIT 1")).fetchone()
        assert types == ("integer", "real", "text", "blob", "null")


async def test_bool_bytearray_memoryview_parameters(db):
    got = await db.fetchone("SELECT ?, ?, ?", (True, bytearray(b"ab"), memoryview(b"cd")))
    assert got == (1, b"ab", b"cd")


async def test_unsupported_parameter_type_and_overflow(db):
    with pytest.raises(sqlvault.ProgrammingError):
        await db.fetchone("SELECT ?", (object(),))
    with pytest.raises(OverflowError):
        await db.fetchone("SELECT ?", (2**64,))


async def test_named_parameters_with_a_dict(db):
    async with db.write_ctx() as cur:
        await cur.execute("CREATE TABLE t(a, b)")
        await cur.execute("INSERT INTO t VALUES (:a, :b)", {"b": "B", "a": "A"})
        await cur.execute("INSERT INTO t VALUES (@x, $y)", {"x": 1, "y": 2})
        await cur.execute("SELECT b, a FROM t WHERE a = :a AND ':a' = ':a'", {"a": "A"})
        assert await cur.fetchall() == [("B", "A")]
        with pytest.raises(sqlvault.ProgrammingError):
            await cur.execute("SELECT :missing", {"other": 1})


async def test_wrong_parameter_count_is_a_programming_error(db):
    with pytest.raises(sqlvault.ProgrammingError):
        await db.fetchone("SELECT ?, ?", (1,))


async def test_description_rowcount_lastrowid(db):
    async with db.write_ctx() as cur:
        await cur.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)")
        assert cur.description is None
        await cur.execute("INSERT INTO t(name) VALUES (?)", ("a",))
        assert cur.rowcount == 1 and cur.lastrowid == 1
        await cur.executemany("INSERT INTO t(name) VALUES (?)", [("b",), ("c",), ("d",)])
        assert cur.rowcount == 3 and cur.lastrowid == 4
        await cur.execute("UPDATE t SET name = upper(name) WHERE id > 1")
        assert cur.rowcount == 3
        await cur.execute("DELETE FROM t WHERE id = 4")
        assert cur.rowcount == 1
        await cur.execute("SELECT id AS ident, name FROM t")
        assert [d[0] for d in cur.description] == ["ident", "name"]
        assert cur.rowcount == -1
        assert await cur.fetchmany(2) == [(1, "a"), (2, "B")]
        cur.arraysize = 5
        assert await cur.fetchmany() == [(3, "C")]
        assert await cur.fetchall() == []


async def test_executescript(db):
    async with db.write_ctx() as cur:
        await cur.executescript("CREATE TABLE a(x); CREATE TABLE b(y); INSERT INTO a VALUES (1); INSERT INTO b VALUES (2);")
        assert await (await cur.execute("SELECT x + (SELECT y FROM b) FROM a")).fetchone() == (3,)


async def test_async_for_streams_rows_without_loading_them_all(db):
    # An endless query: it can only be iterated if rows are streamed, not collected first.
    async with db.read_ctx() as cur:
        await cur.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
        seen = []
        async for (x,) in cur:
            seen.append(x)
            if x == 5000:
                break
        assert seen == list(range(1, 5001))
        # A new statement on the same cursor ends the endless one.
        assert await (await cur.execute("SELECT 42")).fetchone() == (42,)


async def test_shortcuts_use_a_reader_or_the_writer(db):
    r = await db.execute("CREATE TABLE t(x)")
    assert r.description is None
    r = await db.execute("INSERT INTO t VALUES (?)", (7,))
    assert r.rowcount == 1 and r.lastrowid == 1
    assert await db.fetchone("SELECT x FROM t") == (7,)
    assert await db.fetchall("SELECT x FROM t UNION ALL SELECT 8") == [(7,), (8,)]
    res = await db.execute("SELECT x FROM t")
    assert [d[0] for d in res.description] == ["x"]
    assert res.fetchall() == [(7,)]
    assert await db.fetchone("SELECT x FROM t WHERE x = 0") is None


async def test_write_ctx_commits_and_rolls_back_on_exception(db):
    await db.execute("CREATE TABLE t(x)")
    async with db.write_ctx() as cur:
        await cur.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError):
        async with db.write_ctx() as cur:
            await cur.execute("INSERT INTO t VALUES (2)")
            1 / 0
    assert await db.fetchall("SELECT x FROM t") == [(1,)]


async def test_cursor_is_unusable_after_its_transaction(db):
    async with db.read_ctx() as cur:
        pass
    with pytest.raises(sqlvault.ProgrammingError):
        await cur.execute("SELECT 1")


async def test_read_ctx_sees_one_snapshot(db):
    await db.execute("CREATE TABLE t(x)")
    await db.execute("INSERT INTO t VALUES (1)")
    async with db.read_ctx() as r:
        assert await (await r.execute("SELECT count(*) FROM t")).fetchone() == (1,)
        async with db.write_ctx() as w:
            await w.execute("INSERT INTO t VALUES (2)")
        assert await (await r.execute("SELECT count(*) FROM t")).fetchone() == (1,)
    assert await db.fetchone("SELECT count(*) FROM t") == (2,)


async def test_reader_refuses_writes(db):
    await db.execute("CREATE TABLE t(x)")
    async with db.read_ctx() as cur:
        with pytest.raises(sqlvault.OperationalError):
            await cur.execute("INSERT INTO t VALUES (1)")


async def test_integrity_and_operational_errors(db):
    await db.execute("CREATE TABLE t(x UNIQUE)")
    await db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlvault.IntegrityError):
        await db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlvault.OperationalError):
        await db.execute("SELEC nonsense")
    # The hierarchy mirrors DB-API.
    for cls in (sqlvault.IntegrityError, sqlvault.OperationalError, sqlvault.ProgrammingError,
                sqlvault.DataError, sqlvault.InternalError, sqlvault.NotSupportedError,
                sqlvault.WrongKey, sqlvault.TamperedPage, sqlvault.NotADatabase):
        assert issubclass(cls, sqlvault.DatabaseError)
    assert issubclass(sqlvault.DatabaseError, sqlvault.Error)
    assert issubclass(sqlvault.InterfaceError, sqlvault.Error)


async def test_async_with_open_closes(path):
    async with await sqlvault.open(path, key=KEY, **FAST) as db:
        await db.execute("CREATE TABLE t(x)")
        await db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlvault.ProgrammingError):
        await db.fetchone("SELECT 1")
    async with await sqlvault.open(path, key=KEY) as db:
        assert await db.fetchone("SELECT x FROM t") == (1,)


async def test_raw_keys_hex_and_bytes(tmp_path):
    raw = bytes(range(32))
    p = str(tmp_path / "raw.db")
    async with await sqlvault.open(p, key=sqlvault.RawKey(raw)) as db:
        await db.execute("CREATE TABLE t(x)")
    async with await sqlvault.open(p, key="x'" + raw.hex() + "'") as db:
        assert await db.fetchone("SELECT count(*) FROM t") == (0,)
    with pytest.raises(sqlvault.WrongKey):
        await sqlvault.open(p, key=sqlvault.RawKey(bytes(32)))
    with pytest.raises(ValueError):
        sqlvault.RawKey(b"short")
    p2 = str(tmp_path / "bytes.db")
    async with await sqlvault.open(p2, key=b"\xffbinary passphrase", **FAST) as db:
        await db.execute("CREATE TABLE t(x)")
    with pytest.raises(sqlvault.WrongKey):
        await sqlvault.open(p2, key=b"\xfebinary passphrase")
    async with await sqlvault.open(p2, key=b"\xffbinary passphrase") as db:
        assert await db.fetchone("SELECT count(*) FROM t") == (0,)


async def test_unknown_option_is_refused(path):
    with pytest.raises(TypeError):
        await sqlvault.open(path, key=KEY, no_such_option=1)


async def test_rekey(path):
    db = await sqlvault.open(path, key=KEY, **FAST)
    await db.execute("CREATE TABLE t(x)")
    await db.execute("INSERT INTO t VALUES ('kept')")
    await db.rekey("new passphrase")
    assert await db.fetchone("SELECT x FROM t") == ("kept",)
    await db.close()
    with pytest.raises(sqlvault.WrongKey):
        await sqlvault.open(path, key=KEY)
    async with await sqlvault.open(path, key="new passphrase") as db:
        assert await db.fetchone("SELECT x FROM t") == ("kept",)


async def test_sync_view_has_the_same_names(db):
    s = db.sync
    s.execute("CREATE TABLE t(x)")
    r = s.execute("INSERT INTO t VALUES (?)", (1,))
    assert r.rowcount == 1 and r.lastrowid == 1
    with s.write_ctx() as cur:
        cur.executemany("INSERT INTO t VALUES (?)", [(2,), (3,), (4,)])
        assert cur.rowcount == 3
        cur.executescript("INSERT INTO t VALUES (5);")
    with s.read_ctx() as cur:
        cur.execute("SELECT x FROM t ORDER BY x")
        assert [d[0] for d in cur.description] == ["x"]
        assert cur.fetchone() == (1,)
        assert cur.fetchmany(2) == [(2,), (3,)]
        assert list(cur) == [(4,), (5,)]
    assert s.fetchone("SELECT count(*) FROM t") == (5,)
    assert s.fetchall("SELECT x FROM t WHERE x > 3 ORDER BY x") == [(4,), (5,)]
    assert s.path == db.path and s.readers == db.readers
    # And back: the async view of a sync handle is the same pool.
    assert await s.aio.fetchone("SELECT count(*) FROM t") == (5,)


async def test_description_of_a_query_without_rows(db):
    async with db.write_ctx() as cur:
        await cur.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)")
        assert cur.description is None
        await cur.execute("SELECT id, name AS n FROM t WHERE id = ?", (42,))
        assert [d[0] for d in cur.description] == ["id", "n"]
        assert await cur.fetchone() is None
    res = await db.execute("SELECT name FROM t")
    assert [d[0] for d in res.description] == ["name"] and res.fetchall() == []
