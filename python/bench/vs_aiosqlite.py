"""sqlvault (Python package) against aiosqlite over sqlcipher3 (SQLCipher 4), measured in
one run on the same machine, same settings: WAL, synchronous=NORMAL, 4 KiB pages, 2 MiB
cache, raw 256-bit keys (no KDF in the timings).

    python python/bench/vs_aiosqlite.py [--rows N] [--repeat K]

Needs `pip install aiosqlite sqlcipher3-binary` next to sqlvault (a release build:
`pip install ./python`). Prints one line per workload: the median time of each side and
the ratio sqlvault / aiosqlite+SQLCipher (below 1 means sqlvault is faster).
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiosqlite
import sqlcipher3
from aiosqlite.core import Connection

import sqlvault

KEY = bytes(range(32))
HEX = "x'" + KEY.hex() + "'"
PAD = "x" * 100


async def open_sqlcipher(path):
    def connector():
        conn = sqlcipher3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA key = \"{HEX}\"")
        conn.execute("PRAGMA cipher_page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -2048")
        return conn
    return await Connection(connector, 64)


async def open_sqlvault(path):
    return await sqlvault.open(path, key=sqlvault.RawKey(KEY), synchronous="normal", cache_size_kib=2048)


# Each workload: (name, setup(db) coroutine, run(db) coroutine), for both sides.

async def sv_fill(db, rows):
    async with db.write_ctx() as cur:
        await cur.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER, pad TEXT)")
        await cur.execute("DELETE FROM t")
        await cur.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, i * 7, PAD) for i in range(rows)])


async def ac_fill(db, rows):
    await db.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER, pad TEXT)")
    await db.execute("BEGIN IMMEDIATE")
    await db.execute("DELETE FROM t")
    await db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, i * 7, PAD) for i in range(rows)])
    await db.execute("COMMIT")


async def sv_small_tx(db, n):
    for i in range(n):
        async with db.write_ctx() as cur:
            await cur.execute("UPDATE t SET v = v + 1 WHERE id = ?", (i,))


async def ac_small_tx(db, n):
    for i in range(n):
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("UPDATE t SET v = v + 1 WHERE id = ?", (i,))
        await db.execute("COMMIT")


async def sv_point(db, n, rows):
    for i in range(n):
        await db.fetchone("SELECT v FROM t WHERE id = ?", ((i * 7919) % rows,))


async def ac_point(db, n, rows):
    for i in range(n):
        async with db.execute("SELECT v FROM t WHERE id = ?", ((i * 7919) % rows,)) as cur:
            await cur.fetchone()


async def sv_scan(db):
    n = 0
    async with db.read_ctx() as cur:
        async for _ in await cur.execute("SELECT id, v, pad FROM t"):
            n += 1
    return n


async def ac_scan(db):
    n = 0
    async with db.execute("SELECT id, v, pad FROM t") as cur:
        async for _ in cur:
            n += 1
    return n


async def concurrent(point, db, tasks, n, rows):
    await asyncio.gather(*(point(db, n, rows) for _ in range(tasks)))


async def heartbeat_during(work):
    """Lateness of a 5 ms heartbeat on the event loop while `work` runs: (median, max) in ms."""
    late, done = [], asyncio.Event()

    async def beat():
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            late.append(time.perf_counter() - t - 0.005)

    hb = asyncio.ensure_future(beat())
    await work()
    done.set()
    await hb
    return statistics.median(late) * 1000, max(late) * 1000


async def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows, rep = args.rows, args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        sv = await open_sqlvault(os.path.join(tmp, "sv.db"))
        ac = await open_sqlcipher(os.path.join(tmp, "ac.db"))
        await sv_fill(sv, rows)
        await ac_fill(ac, rows)
        work = [
            (f"batched insert ({rows} rows, 1 tx)", lambda: sv_fill(sv, rows), lambda: ac_fill(ac, rows)),
            ("small write transactions (200 x 1 UPDATE)", lambda: sv_small_tx(sv, 200), lambda: ac_small_tx(ac, 200)),
            ("point selects (2000, one at a time)", lambda: sv_point(sv, 2000, rows), lambda: ac_point(ac, 2000, rows)),
            (f"full scan ({rows} rows, streamed)", lambda: sv_scan(sv), lambda: ac_scan(ac)),
            ("point selects (8 tasks x 250, concurrent)", lambda: concurrent(sv_point, sv, 8, 250, rows),
             lambda: concurrent(ac_point, ac, 8, 250, rows)),
        ]
        print(f"sqlvault vs aiosqlite {aiosqlite.__version__} + sqlcipher3 "
              f"(SQLCipher {sqlcipher3.connect(':memory:').execute('PRAGMA cipher_version').fetchone()[0]}, "
              f"SQLite {sqlcipher3.sqlite_version}); Python {sys.version.split()[0]}; readers={sv.readers}; "
              f"median of {rep}")
        print(f"{'workload':48} {'sqlvault':>10} {'aiosqlite+SQLCipher':>20} {'ratio':>7}")
        for name, a, b in work:
            ta = await timed(a, rep)
            tb = await timed(b, rep)
            print(f"{name:48} {ta * 1000:9.1f}ms {tb * 1000:19.1f}ms {ta / tb:7.2f}")
        for side, scan in (("sqlvault", lambda: sv_scan(sv)), ("aiosqlite+SQLCipher", lambda: ac_scan(ac))):
            med, worst = await heartbeat_during(lambda: asyncio.gather(scan(), scan(), scan()))
            print(f"heartbeat lateness during 3 concurrent scans, {side}: median {med:.2f} ms, max {worst:.2f} ms")
        await sv.close()
        await ac.close()


if __name__ == "__main__":
    asyncio.run(main())
