"""Shared fixtures: a fresh database per test, opened with cheap Argon2 parameters."""

import pytest

import sqlvault

#: Argon2id parameters for tests only (64 KiB, one pass): real databases use the defaults.
FAST = {"argon2": (64, 1, 1)}
KEY = "test passphrase"


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "test.db")


@pytest.fixture
async def db(path):
    d = await sqlvault.open(path, key=KEY, readers=3, **FAST)
    yield d
    await d.close()
