#!/usr/bin/env python3
"""Reads the testfixture logs that run.sh wrote and checks them.

For each test file: the cases run, the failures without sqlvault (plain), the failures with
sqlvault, how many of the sqlvault-only failures expected-differences.txt lists, and how
many are unexplained. Writes DIR/report.md (the table) and DIR/failures.md (each failing
case with the lines testfixture printed for it), prints the table, and exits 1 when:

* a file fails in the plain run (the baseline must be clean), or ends without
  testfixture's summary line (crash, hang, time limit) in either run;
* a case fails only with sqlvault and expected-differences.txt does not list it;
* expected-differences.txt lists a case of a file that ran but the case passed (stale);
* sqlvault-wiring: any case fails with sqlvault, or a sealing check passes without it.
"""

import argparse
import os
import re
import sys

CATEGORIES = {
    "raw-bytes": "reads or writes raw file bytes (hexio_*, fake_big_file, hand-made WAL frames)",
    "reserve-size": "a size that the 32 reserved bytes per page change",
    "mmap-off": "memory-mapped I/O is off for encrypted files",
    "keyless-by-design": "a keyless connection opens an encrypted file by design",
}

# The cases of sqlvault-wiring.test that look at raw bytes: each must fail without
# sqlvault, or the wiring proof proves nothing.
WIRING = "sqlvault-wiring"
WIRING_PLAIN_MUST_FAIL = {
    "sqlvault-1.2", "sqlvault-2.2", "sqlvault-2.3", "sqlvault-3.2", "sqlvault-3.4",
    "sqlvault-4.1", "sqlvault-5.1", "sqlvault-5.2", "sqlvault-6.1",
}

SUMMARY = re.compile(r"^(\d+) errors out of (\d+) tests")
FAILURES = re.compile(r"^!Failures on these tests: (.*)$")
CASE_START = re.compile(r"^(\S+)\.\.\.(.*)$")


class Run:
    """One test file in one mode."""

    def __init__(self, log_path, rc_path):
        self.present = os.path.exists(log_path)
        self.rc, self.secs = None, None
        self.errors, self.cases = None, None
        self.failed = []
        self.blocks = {}
        self.ok = 0
        self.abort = []
        if not self.present:
            return
        if os.path.exists(rc_path):
            parts = open(rc_path).read().split()
            self.rc, self.secs = int(parts[0]), float(parts[1])
        with open(log_path, errors="replace") as f:
            lines = f.read().splitlines()
        current = None
        for i, line in enumerate(lines):
            # testfixture's last words when a script error ends the file early (the last such line:
            # children started by crashsql print theirs into the same log).
            if re.match(r"^\S*testfixture: ", line):
                self.abort = [line.split("testfixture: ", 1)[1]] + [
                    t.strip() for t in lines[i + 1:i + 4]]
            m = SUMMARY.match(line)
            if m:
                self.errors, self.cases = int(m.group(1)), int(m.group(2))
                current = None
                continue
            m = FAILURES.match(line)
            if m:
                for name in m.group(1).split():
                    if name not in self.failed:
                        self.failed.append(name)
                continue
            m = CASE_START.match(line)
            if m and not line.startswith("!"):
                current = m.group(1)
                if m.group(2).strip() == "Ok":
                    self.ok += 1
                    current = None
                else:
                    self.blocks.setdefault(current, [])
                    if m.group(2).strip():
                        self.blocks[current].append(m.group(2).strip())
                continue
            if current is not None and len(self.blocks[current]) < 8:
                self.blocks[current].append(line)
        if self.errors is not None and self.errors > 0 and not self.failed:
            self.failed.append("(unnamed)")

    @property
    def finished(self):
        return self.errors is not None

    def status(self):
        if not self.present:
            return "not run"
        if not self.finished:
            if self.rc in (124, 137):
                return "TIMEOUT"
            return f"NO SUMMARY rc={self.rc}"
        return str(len(self.failed))


OPEN_CATEGORIES = {
    "open-defect": "a sqlvault defect not fixed yet (open-defects.txt; it must stay true)",
}


def load_expected(path, categories=None):
    """{file: {case: (category, reason)}}; malformed lines are errors."""
    categories = CATEGORIES if categories is None else categories
    expected, problems = {}, []
    if not os.path.exists(path):
        return expected, problems
    for n, raw in enumerate(open(path), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(\S+)\s+(\S+)\s+(\S+)\s+--\s+(.+)$", line)
        if not m:
            problems.append(f"{path}:{n}: want 'FILE CASE CATEGORY -- reason': {raw.strip()}")
            continue
        fname, case, cat, reason = m.groups()
        if cat not in categories:
            problems.append(f"{path}:{n}: category {cat!r} is not one of {', '.join(categories)}")
            continue
        expected.setdefault(fname, {})[case] = (cat, reason)
    return expected, problems


def names(cases, limit=8):
    """A list of case names, shortened for a one-line verdict."""
    cases = list(cases)
    more = f" (+{len(cases) - limit} more)" if len(cases) > limit else ""
    return " ".join(cases[:limit]) + more


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--open", default=None, help="open-defects.txt: known sqlvault defects, reported, not yet fixed")
    ap.add_argument("--modes", default="plain sqlvault")
    ap.add_argument("names", nargs="+")
    args = ap.parse_args()
    modes = args.modes.split()
    expected, problems = load_expected(args.expected)
    open_defects, open_problems = load_expected(args.open, OPEN_CATEGORIES) if args.open else ({}, [])
    problems += open_problems
    for fname, cases in open_defects.items():
        for case in cases:
            if case in expected.get(fname, {}):
                problems.append(f"{fname} {case}: listed both as an expected difference and as an open defect")
            expected.setdefault(fname, {})[case] = cases[case]

    rows, details, verdicts = [], [], list(problems)
    totals = dict(cases=0, plain=0, vault=0, exp=0, unexp=0, open=0)
    for name in args.names:
        runs = {
            m: Run(os.path.join(args.out, "logs", m, name + ".log"),
                   os.path.join(args.out, "logs", m, name + ".rc"))
            for m in ("plain", "sqlvault")
        }
        plain, vault = runs["plain"], runs["sqlvault"]
        listed = expected.get(name, {})
        plain_failed = set(plain.failed)
        cases = vault.cases if vault.finished else plain.cases
        vault_only = [c for c in vault.failed if c not in plain_failed]
        exp = [c for c in vault_only if c in listed]
        unexp = [c for c in vault_only if c not in listed]

        if name == WIRING:
            if "plain" in modes and plain.finished:
                missing = sorted(WIRING_PLAIN_MUST_FAIL - plain_failed)
                if missing:
                    verdicts.append(f"{WIRING}: sealing checks pass WITHOUT sqlvault: {names(missing)}")
            if "sqlvault" in modes and vault.failed:
                verdicts.append(f"{WIRING}: fails with sqlvault: {names(vault.failed)}")
            unexp = list(vault.failed)
            exp = []
        else:
            if "plain" in modes:
                if not plain.finished:
                    verdicts.append(f"{name}: plain run {plain.status()}")
                elif plain.failed:
                    verdicts.append(f"{name}: fails WITHOUT sqlvault (baseline): {names(plain.failed)}")
            if "sqlvault" in modes:
                if not vault.finished:
                    # A file that a listed raw-bytes step ends early (walbig's
                    # fake_big_file) is listed as the case "(no-summary)".
                    if "(no-summary)" in listed:
                        exp.append("(no-summary)")
                    else:
                        verdicts.append(f"{name}: sqlvault run {vault.status()}")
                        unexp.append("(no-summary)")
                if unexp and vault.finished:
                    verdicts.append(f"{name}: {len(unexp)} unexplained sqlvault failure(s): {names(unexp)}")
                if vault.finished:
                    # An entry whose reason starts "varies:" depends on random bytes (a raw
                    # write at an offset read from sealed data): it may pass.
                    stale = sorted(c for c in listed if c not in vault.failed
                                   and not listed[c][1].startswith("varies:"))
                    if stale:
                        verdicts.append(f"{name}: listed in expected-differences but passes: {names(stale)}")

        rows.append((name, cases if cases is not None else "?", plain.status(),
                     vault.status(), len(exp), len(unexp),
                     plain.secs, vault.secs))
        totals["cases"] += cases or 0
        totals["plain"] += len(plain.failed)
        totals["vault"] += len(vault.failed)
        totals["open"] += sum(1 for c in exp if listed.get(c, ("",))[0] == "open-defect")
        totals["exp"] += len(exp)
        totals["unexp"] += len(unexp)

        for mode, run in (("sqlvault", vault), ("plain", plain)):
            if not run.present or (not run.failed and run.finished):
                continue
            details.append(f"## {name} ({mode})\n")
            if not run.finished:
                details.append(f"* no summary line: {run.status()} (log: logs/{mode}/{name}.log)\n")
                if run.abort:
                    details.append(f"* stopped by: `{' / '.join(run.abort)}`\n")
            for case in run.failed:
                tag = ""
                if mode == "sqlvault" and case in listed:
                    tag = f" — expected ({listed[case][0]}: {listed[case][1]})"
                elif mode == "sqlvault" and case in plain_failed:
                    tag = " — fails plain too"
                text = run.blocks.get(case, [])
                details.append(f"* `{case}`{tag}\n")
                for t in text:
                    if t.strip():
                        details.append(f"      {t}\n")
            details.append("\n")

    def secs(s):
        return "" if s is None else f"{s:.0f}"

    head = ("| file | cases | plain failures | sqlvault failures | expected | unexplained | plain s | sqlvault s |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|\n")
    body = "".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {secs(r[6])} | {secs(r[7])} |\n"
                   for r in rows)
    tot = (f"| **total** | {totals['cases']} | {totals['plain']} | {totals['vault']} | "
           f"{totals['exp']} | {totals['unexp']} | | |\n")
    table = head + body + tot
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(table)
        f.write("\n")
        f.write(f"\nOf the {totals['exp']} listed, {totals['open']} are OPEN sqlvault defects (open-defects.txt), not expected differences.\n")
        for v in verdicts:
            f.write(f"* {v}\n")
    with open(os.path.join(args.out, "failures.md"), "w") as f:
        f.write("".join(details) if details else "No failures.\n")
    print(table)
    print(f"of the {totals['exp']} listed failures, {totals['open']} are OPEN sqlvault defects (open-defects.txt)")
    print(f"details: {os.path.join(args.out, 'failures.md')}")
    if verdicts:
        print("FAILED:")
        for v in verdicts:
            print(f"  {v}")
        return 1
    plain_cases = sum(1 for r in rows)
    print(f"sqlite-suite: {plain_cases} files, {totals['cases']} cases: no unexplained failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
