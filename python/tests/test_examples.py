"""The example app (examples/python/) and the Python code in README.md and
docs/migrating.md run, and print what they say they print."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLES = os.path.join(ROOT, "examples", "python")

LEDGER = [
    "Ada: 2 orders, 16.49",
    "Bob: 1 orders, 100.00",
    "audit events: 5",
]


def run(args, cwd, env=None):
    out = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_sync_example(tmp_path):
    assert run([os.path.join(EXAMPLES, "app_sync.py"), str(tmp_path / "s.db")], EXAMPLES) == LEDGER


def test_async_example(tmp_path):
    lines = run([os.path.join(EXAMPLES, "app_async.py"), str(tmp_path / "a.db")], EXAMPLES)
    assert lines == ["orders (seen from a thread through db.sync): 3"] + LEDGER


def blocks(doc):
    """The ```py blocks of a document, each with the ```text output block after it, if any."""
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        text = f.read()
    found = []
    for m in re.finditer(r"```py\n(.*?)```(?:\s*```text output\n(.*?)```)?", text, re.S):
        found.append((m.group(1), (m.group(2) or "").splitlines()))
    return found


@pytest.mark.parametrize("doc", ["README.md", "docs/migrating.md"])
def test_python_blocks_of_the_docs_run(tmp_path, doc):
    found = blocks(doc)
    assert found, f"no ```py block in {doc}"
    for i, (code, expected) in enumerate(found):
        script = tmp_path / f"block{i}.py"
        script.write_text(code)
        fixtures = os.path.join(ROOT, "tests", "fixtures", "sqlcipher")
        lines = run([str(script)], tmp_path, env={"PYTHONPATH": EXAMPLES, "SQLVAULT_FIXTURES": fixtures})
        for line in expected:
            assert line in lines, (doc, i, line, lines)
