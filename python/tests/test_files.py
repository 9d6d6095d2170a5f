"""Files that must not open as they are: a wrong key, a plaintext database, tampered pages."""

import os
import sqlite3

import pytest

import sqlvault
from conftest import FAST, KEY


async def make(path, rows=2000):
    async with await sqlvault.open(path, key=KEY, **FAST) as db:
        async with db.write_ctx() as cur:
            await cur.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT)")
            await cur.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 200) for i in range(rows)])


async def test_wrong_key(path):
    await make(path, rows=10)
    with pytest.raises(sqlvault.WrongKey):
        await sqlvault.open(path, key="not the key")
    with pytest.raises(sqlvault.WrongKey):
        sqlvault.open_sync(path, key="not the key")


async def test_plaintext_database_is_not_a_database(tmp_path):
    p = str(tmp_path / "plain.db")
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    with pytest.raises(sqlvault.NotADatabase) as info:
        await sqlvault.open(p, key=KEY)
    assert "plaintext" in str(info.value)


async def test_random_bytes_are_not_a_database(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not sqlite at all" * 500)
    with pytest.raises((sqlvault.NotADatabase, sqlvault.WrongKey)):
        await sqlvault.open(str(p), key=KEY)


async def test_tampered_page_names_page_and_file(path):
    await make(path)
    page_size = 4096
    assert os.path.getsize(path) > 5 * page_size
    with open(path, "r+b") as f:
        f.seek(3 * page_size + 1000)  # inside page 4
        b = f.read(1)
        f.seek(3 * page_size + 1000)
        f.write(bytes([b[0] ^ 0x01]))
    db = await sqlvault.open(path, key=KEY)
    try:
        with pytest.raises(sqlvault.TamperedPage) as info:
            async with db.read_ctx() as cur:
                await cur.execute("SELECT count(*), sum(length(pad)) FROM t")
                await cur.fetchall()
        assert info.value.page == 4
        assert info.value.file == "database"
        assert isinstance(info.value, sqlvault.DatabaseError)
    finally:
        await db.close()
