"""A small ledger app against ``db.sync``: the shape of the code a gevent- or thread-based
driver had (``with db.read_ctx() as cursor``), with no ``await`` and no progress-callback
hack. The first step of a migration: swap the driver, keep the code.

Run: ``python examples/python/app_sync.py [DB]`` (a temporary database by default). The
passphrase comes from ``$LEDGER_KEY`` here; a real app reads it from its secret store.
"""

import os
import sys
import tempfile

import sqlvault

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), cents INTEGER NOT NULL CHECK (cents > 0));
CREATE TABLE IF NOT EXISTS audit_log(id INTEGER PRIMARY KEY, event TEXT NOT NULL);
"""


def add_customer(db, name, email):
    """One write transaction: the customer and its audit line, or neither."""
    with db.write_ctx() as cur:
        cur.execute("INSERT INTO customers(name, email) VALUES (?, ?)", (name, email))
        customer_id = cur.lastrowid
        cur.execute("INSERT INTO audit_log(event) VALUES (?)", (f"new customer {customer_id}",))
        return customer_id


def place_orders(db, customer_id, amounts):
    """Every order in its own savepoint: a refused one is undone, the others are kept."""
    placed = 0
    with db.write_ctx() as cur:
        for cents in amounts:
            try:
                with cur.savepoint_ctx() as sp:
                    sp.execute("INSERT INTO orders(customer_id, cents) VALUES (:c, :cents)", {"c": customer_id, "cents": cents})
                    sp.execute("INSERT INTO audit_log(event) VALUES (?)", (f"order {sp.lastrowid}",))
                placed += 1
            except sqlvault.IntegrityError:
                pass  # the CHECK refused it; its savepoint was rolled back
    return placed


def report(db):
    """A consistent snapshot, rows streamed as they are read."""
    lines = []
    with db.read_ctx() as cur:
        cur.execute(
            "SELECT c.name, count(o.id), coalesce(sum(o.cents), 0) FROM customers c "
            "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY c.name"
        )
        for name, n, cents in cur:
            lines.append(f"{name}: {n} orders, {cents / 100:.2f}")
        (events,) = cur.execute("SELECT count(*) FROM audit_log").fetchone()
    lines.append(f"audit events: {events}")
    return lines


def main(path):
    key = os.environ.get("LEDGER_KEY", "example passphrase")
    with sqlvault.open_sync(path, key=key) as db:
        with db.write_ctx() as cur:
            cur.executescript(SCHEMA)
        ada = add_customer(db, "Ada", "ada@example.org")
        bob = add_customer(db, "Bob", "bob@example.org")
        place_orders(db, ada, [1250, -5, 399])
        place_orders(db, bob, [10000])
        for line in report(db):
            print(line)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(tmp, "ledger.db"))
