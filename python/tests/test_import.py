"""Migration helpers: the SQLCipher fixtures and a plaintext database import identically."""

import hashlib
import os
import shutil
import sqlite3

import pytest

import sqlvault
from conftest import FAST

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sqlcipher")
NEW_KEY = "new sqlvault passphrase"

# name -> PRAGMA key of the fixture (tests/fixtures/sqlcipher/README.md).
CASES = {
    "v4-default": "v4 default passphrase",
    "v4-page8192": "v4 page 8192 passphrase",
    "v4-wal": "v4 wal passphrase",
    "v4-rawkey": "x'2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe'",
    "v3-default": "v3 default passphrase",
    "v3-page4096": "v3 page 4096 passphrase",
    "v3-wal": "v3 wal passphrase",
    "v2-kdf4000": "v2 passphrase",
}


def expected(name):
    out = []
    with open(os.path.join(FIXTURES, name + ".expected"), encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("# query: "):
                out.append((line[len("# query: "):], []))
            else:
                out[-1][1].append(line)
    assert len(out) >= 10
    return out


def fmt(v):
    """A value as the .expected files write it (tests/cli.rs `format_value`)."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return "x'" + v.hex().upper() + "'"
    return "'" + v.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\|") + "'"


def copy_fixture(tmp_path, name):
    for suffix in ("", "-wal"):
        p = os.path.join(FIXTURES, name + ".db" + suffix)
        if os.path.exists(p):
            shutil.copy(p, tmp_path / (name + ".db" + suffix))
    return str(tmp_path / (name + ".db"))


@pytest.mark.parametrize("name", sorted(CASES))
async def test_sqlcipher_fixture_imports_identically(tmp_path, name):
    src = copy_fixture(tmp_path, name)
    dst = str(tmp_path / "imported.db")
    seen = []
    report = sqlvault.import_sqlcipher(
        src, dst, source_key=CASES[name], key=NEW_KEY, argon2=FAST["argon2"],
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert report["source"].startswith("SQLCipher"), report
    assert {s for s, _, _ in seen} == {"decrypt", "copy"}
    assert seen[-1][0] == "copy" and seen[-1][1] == seen[-1][2] == len(report["tables"])
    # Nothing but the inputs and the result: no plaintext temp file.
    leftovers = sorted(n for n in os.listdir(tmp_path) if not n.startswith(name))
    assert leftovers == ["imported.db"]
    async with await sqlvault.open(dst, key=NEW_KEY) as db:
        async with db.read_ctx() as cur:
            for query, rows in expected(name):
                hashed = "sha256hex(body)" in query
                q = query.replace("sha256hex(body)", "body")
                got = []
                async for row in await cur.execute(q):
                    if hashed:
                        row = row[:-1] + (hashlib.sha256(row[-1]).hexdigest(),)
                    got.append(" | ".join(fmt(v) for v in row))
                assert got == rows, (name, query)
    with open(dst, "rb") as f:
        data = f.read()
    assert data[20] == 32  # sqlvault's trailer, not SQLCipher's reserve
    assert b"c1@example" not in data


async def test_wrong_source_key_and_tampered_source(tmp_path):
    src = copy_fixture(tmp_path, "v4-default")
    with pytest.raises(sqlvault.WrongKey):
        sqlvault.import_sqlcipher(src, str(tmp_path / "a.db"), source_key="wrong", key=NEW_KEY, legacy=4)
    assert not os.path.exists(tmp_path / "a.db")
    with open(src, "r+b") as f:
        f.seek(4096 * 2 + 500)  # page 3
        b = f.read(1)
        f.seek(4096 * 2 + 500)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(sqlvault.TamperedPage) as info:
        sqlvault.import_sqlcipher(src, str(tmp_path / "b.db"), source_key=CASES["v4-default"], key=NEW_KEY, legacy=4)
    assert info.value.page == 3
    assert not os.path.exists(tmp_path / "b.db")


async def test_plaintext_import_with_wal(tmp_path):
    src = str(tmp_path / "plain.db")
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"v{i}", bytes([i % 256]) * 10) for i in range(500)])
    conn.execute("CREATE INDEX t_v ON t(v)")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    rows = conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    # The connection stays open: the last transactions are still only in the WAL.
    dst = str(tmp_path / "enc.db")
    calls = []
    report = sqlvault.import_sqlite(src, dst, key=sqlvault.RawKey(bytes(range(32))), progress=lambda *a: calls.append(a))
    conn.close()
    assert report["source"] == "plaintext SQLite"
    assert report["tables"] == {"t": 500}
    assert report["other_objects"] == 1 and report["user_version"] == 7
    assert calls and calls[-1] == ("copy", 1, 1)
    async with await sqlvault.open(dst, key=sqlvault.RawKey(bytes(range(32)))) as db:
        assert await db.fetchall("SELECT * FROM t ORDER BY id") == rows
    with pytest.raises(sqlvault.OperationalError):
        sqlvault.import_sqlite(src, dst, key="k")  # dst exists
    with pytest.raises(sqlvault.OperationalError):
        sqlvault.import_sqlite(dst, str(tmp_path / "x.db"), key="k")  # not plaintext
