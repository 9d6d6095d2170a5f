"""The same ledger app as ``app_sync.py``, against the asyncio API: the same names with
``async with`` and ``await``. SQLite runs on the driver's threads, so a long report does
not hold up the other tasks, and cancelling a task interrupts its statement and rolls its
transaction back.

Run: ``python examples/python/app_async.py [DB]``.
"""

import asyncio
import os
import sys
import tempfile

import sqlvault

from app_sync import SCHEMA


async def add_customer(db, name, email):
    async with db.write_ctx() as cur:
        await cur.execute("INSERT INTO customers(name, email) VALUES (?, ?)", (name, email))
        customer_id = cur.lastrowid
        await cur.execute("INSERT INTO audit_log(event) VALUES (?)", (f"new customer {customer_id}",))
        return customer_id


async def place_orders(db, customer_id, amounts):
    placed = 0
    async with db.write_ctx() as cur:
        for cents in amounts:
            try:
                async with cur.savepoint_ctx() as sp:
                    await sp.execute("INSERT INTO orders(customer_id, cents) VALUES (:c, :cents)", {"c": customer_id, "cents": cents})
                    await sp.execute("INSERT INTO audit_log(event) VALUES (?)", (f"order {sp.lastrowid}",))
                placed += 1
            except sqlvault.IntegrityError:
                pass
    return placed


async def report(db):
    lines = []
    async with db.read_ctx() as cur:
        await cur.execute(
            "SELECT c.name, count(o.id), coalesce(sum(o.cents), 0) FROM customers c "
            "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY c.name"
        )
        async for name, n, cents in cur:
            lines.append(f"{name}: {n} orders, {cents / 100:.2f}")
        (events,) = await (await cur.execute("SELECT count(*) FROM audit_log")).fetchone()
    lines.append(f"audit events: {events}")
    return lines


async def main(path):
    key = os.environ.get("LEDGER_KEY", "example passphrase")
    async with await sqlvault.open(path, key=key) as db:
        async with db.write_ctx() as cur:
            await cur.executescript(SCHEMA)
        ada, bob = await asyncio.gather(
            add_customer(db, "Ada", "ada@example.org"), add_customer(db, "Bob", "bob@example.org")
        )
        # Orders of both customers at once: the writes queue for the one writer in order.
        await asyncio.gather(place_orders(db, ada, [1250, -5, 399]), place_orders(db, bob, [10000]))
        # Old synchronous code keeps working on the same pool during the migration.
        old_style = await asyncio.to_thread(db.sync.fetchone, "SELECT count(*) FROM orders")
        print(f"orders (seen from a thread through db.sync): {old_style[0]}")
        for line in await report(db):
            print(line)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(tmp, "ledger.db")))
