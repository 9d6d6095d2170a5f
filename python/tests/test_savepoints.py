"""Nested savepoints: any depth, released on exit, rolled back to on an exception."""

import pytest

import sqlvault


class Boom(Exception):
    pass


async def nest(cur, level, fail_at):
    """Inserts `level`, then nests one level deeper up to 5; raises at `fail_at`."""
    await cur.execute("INSERT INTO t VALUES (?)", (level,))
    if level == fail_at:
        raise Boom(level)
    if level == 5:
        return
    try:
        async with cur.savepoint_ctx() as inner:
            await nest(inner, level + 1, fail_at)
    except Boom:
        # The savepoint rolled back; this level goes on and marks it.
        await cur.execute("INSERT INTO t VALUES (?)", (100 + level,))


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, None])
async def test_five_deep_with_an_exception_at_each_level(db, fail_at):
    await db.execute("CREATE TABLE t(x)")
    async with db.write_ctx() as cur:
        await cur.execute("INSERT INTO t VALUES (0)")
        try:
            async with cur.savepoint_ctx() as sp:
                await nest(sp, 1, fail_at)
        except Boom:
            pass
        # The outer transaction goes on after any of them.
        await cur.execute("INSERT INTO t VALUES (-1)")
    got = sorted(x for (x,) in await db.fetchall("SELECT x FROM t"))
    if fail_at is None:
        assert got == [-1, 0, 1, 2, 3, 4, 5]
    elif fail_at == 1:
        # Level 1 raised inside the first savepoint, which the outer code left by the
        # exception: that savepoint (and only it) is rolled back.
        assert got == [-1, 0]
    else:
        assert got == [-1] + list(range(0, fail_at)) + [100 + fail_at - 1]


async def test_exception_in_savepoint_keeps_outer_transaction(db):
    await db.execute("CREATE TABLE t(x)")
    async with db.write_ctx() as cur:
        await cur.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(Boom):
            async with cur.savepoint_ctx() as sp:
                await sp.execute("INSERT INTO t VALUES (2)")
                raise Boom()
        await cur.execute("INSERT INTO t VALUES (3)")
    assert await db.fetchall("SELECT x FROM t ORDER BY x") == [(1,), (3,)]


async def test_parent_cursor_is_refused_while_a_savepoint_is_open(db):
    await db.execute("CREATE TABLE t(x)")
    async with db.write_ctx() as cur:
        async with cur.savepoint_ctx() as sp:
            with pytest.raises(sqlvault.ProgrammingError):
                await cur.execute("INSERT INTO t VALUES (1)")
            await sp.execute("INSERT INTO t VALUES (2)")
        await cur.execute("INSERT INTO t VALUES (3)")
    assert await db.fetchall("SELECT x FROM t ORDER BY x") == [(2,), (3,)]


async def test_savepoint_in_read_transaction_is_refused(db):
    async with db.read_ctx() as cur:
        with pytest.raises(sqlvault.ProgrammingError):
            async with cur.savepoint_ctx():
                pass


def test_sync_savepoints(path):
    from conftest import FAST, KEY
    db = sqlvault.open_sync(path, key=KEY, **FAST)
    db.execute("CREATE TABLE t(x)")
    with db.write_ctx() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(Boom):
            with cur.savepoint_ctx() as sp:
                sp.execute("INSERT INTO t VALUES (2)")
                with sp.savepoint_ctx() as sp2:
                    sp2.execute("INSERT INTO t VALUES (3)")
                raise Boom()
        with cur.savepoint_ctx() as sp:
            sp.execute("INSERT INTO t VALUES (4)")
    assert db.fetchall("SELECT x FROM t ORDER BY x") == [(1,), (4,)]
    db.close()


async def test_cursor_of_an_ended_savepoint_is_refused(db):
    await db.execute("CREATE TABLE t(x)")
    async with db.write_ctx() as cur:
        async with cur.savepoint_ctx() as old:
            await old.execute("INSERT INTO t VALUES (1)")
        async with cur.savepoint_ctx() as new:
            with pytest.raises(sqlvault.ProgrammingError):
                await old.execute("INSERT INTO t VALUES (2)")
            await new.execute("INSERT INTO t VALUES (3)")
    assert await db.fetchall("SELECT x FROM t ORDER BY x") == [(1,), (3,)]
