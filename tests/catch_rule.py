#!/usr/bin/env python3
"""The catch rule (issue 12): nothing passes everywhere silently.

usage: catch_rule.py [--reports DIR] [--doc FILE]

Reads the catch-table reports (DIR/*.json, default tests/data/catch: one per kernel, written
by setup/kernel/catch-table) and two machine-read tables of FILE (default docs/kernels.md):
"Diagnoses each scenario must show" (scenario -> accepted diagnosis substrings) and "Pairs no
kernel here can fail" (scenarios, memtypes, why). Checks, as TAP:
  - every scenario x memtype pair that ran (not SKIP) on at least one kernel FAILs or XFAILs
    on some kernel with a diagnosis its scenario accepts, or is listed as uncatchable;
  - a listed pair that does fail somewhere with such a diagnosis is stale;
  - a listed row that names no case of any report is a typo;
  - a negative control is detected, with its scenario's diagnosis, on every kernel it ran on;
  - the kernels that must pass (stock) have no FAIL, XFAIL or ERROR: a failure there would
    be forkpin's own (a false FAIL), and could not count as a catch;
  - the catch table in FILE is the one setup/kernel/catch-table generates from these
    reports (regenerated, not edited by hand).
Exit 0 when all hold, 1 otherwise.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUST_PASS = ("stock",)
CAUGHT = ("fail", "xfail")

results = []


def ok(cond, what):
    results.append(bool(cond))
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {what}")
    return cond


def section_rows(doc, marker):
    """The Markdown table rows (lists of cells) between <!-- MARKER begin --> and end."""
    m = re.search(rf"<!-- {marker} begin -->(.*?)<!-- {marker} end -->", doc, re.S)
    if not m:
        sys.exit(f"catch_rule: no '<!-- {marker} begin/end -->' section in the doc")
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or re.match(r"^\|[-| :]+\|$", line):
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows[1:]  # without the header


def names(cell):
    """'`a`, `b`' -> ['a', 'b']."""
    return [n.strip().strip("`") for n in cell.split(",") if n.strip().strip("`")]


def load_reports(where):
    reports = {}
    for path in sorted(glob.glob(os.path.join(where, "*.json"))):
        kernel = os.path.basename(path)[:-len(".json")]
        with open(path) as f:
            reports[kernel] = json.load(f)
    return reports


def matches(case, accepted):
    return any(a in (case.get("diagnosis") or "") for a in accepted)


def check_pairs(reports, accepted, listed):
    """The rule and its reverse, one TAP line per pair that ran."""
    ran, catches = {}, {}
    for kernel, r in reports.items():
        for c in r["cases"]:
            if c.get("control") or c["result"] == "skip":
                continue
            pair = (c["scenario"], c["memtype"])
            ran.setdefault(pair, []).append(kernel)
            # A failure on a kernel that must pass is forkpin's own, never a catch.
            if kernel not in MUST_PASS and c["result"] in CAUGHT and \
                    matches(c, accepted.get(c["scenario"], ())):
                catches.setdefault(pair, []).append(f"{kernel}: {c['id']}")
    counts = {"ran": len(ran), "caught": 0, "listed": 0}
    for pair in sorted(ran):
        what = f"{pair[1]}/{pair[0]}"
        why = listed.get(pair)
        if pair in catches and why:
            ok(False, f"{what}: listed as uncatchable but caught ({catches[pair][0]}): stale")
        elif pair in catches:
            counts["caught"] += 1
            ok(True, f"{what}: caught on {catches[pair][0]}")
        elif why:
            counts["listed"] += 1
            ok(True, f"{what}: uncatchable here: {why[:70]}")
        else:
            ok(False, f"{what}: ran on {', '.join(sorted(set(ran[pair])))} and passes "
               "everywhere silently: catch it or list it in docs/kernels.md")
    return counts


def check_controls(reports, accepted):
    for kernel, r in reports.items():
        ran = [c for c in r["cases"] if c.get("control") and c["result"] != "skip"]
        missed = [c["id"] for c in ran if c["result"] != "control-detected"
                  or not matches(c, accepted.get(c["scenario"], ()))]
        ok(ran and not missed, f"{kernel}: {len(ran)} controls detected with their "
           f"diagnosis{': missed ' + ', '.join(missed[:5]) if missed else ''}")


def check_listed_rows(rows, reports):
    known = {(c["scenario"], c["memtype"]) for r in reports.values() for c in r["cases"]}
    for scenarios, memtypes, _ in rows:
        pairs = {(s, m) for s in names(scenarios) for m in names(memtypes)}
        unknown = sorted(pairs - known)
        ok(not unknown, f"listed row {scenarios} x {memtypes} names cases of the reports"
           f"{': not ' + ', '.join('/'.join(p) for p in unknown[:3]) if unknown else ''}")


def check_table(doc, where):
    """The doc's catch table equals compare-kernels' Markdown for its columns' reports."""
    m = re.search(r"<!-- catch-table begin[^>]*-->\n\n(.*?)\n<!-- catch-table end -->", doc, re.S)
    if not ok(m, "the doc has a catch table between its markers"):
        return
    header = m.group(1).splitlines()[0]
    kernels = [c.split(" (")[0].strip() for c in header.strip("|").split("|")[2:]]
    specs = [f"{k}={os.path.join(where, k + '.json')}" for k in kernels]
    made = subprocess.run([sys.executable, os.path.join(TOP, "setup/lib/compare-kernels"),
                           "--markdown"] + specs, stdout=subprocess.PIPE, text=True).stdout
    ok(made == m.group(1), f"the catch table ({', '.join(kernels)}) is generated from the "
       "reports: setup/kernel/catch-table --update docs/kernels.md")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", default=os.path.join(TOP, "tests", "data", "catch"))
    ap.add_argument("--doc", default=os.path.join(TOP, "docs", "kernels.md"))
    a = ap.parse_args()
    with open(a.doc) as f:
        doc = f.read()
    accepted = {s: [d.strip("`") for d in re.findall(r"`[^`]+`", cell)]
                for s, cell in section_rows(doc, "catch-rule diagnoses")}
    rows = [r[:3] for r in section_rows(doc, "uncatchable pairs")]
    listed = {(s, m): why for scenarios, memtypes, why in rows
              for s in names(scenarios) for m in names(memtypes)}
    reports = load_reports(a.reports)
    ok(len(reports) >= 2, f"{len(reports)} kernel reports in {a.reports}")
    scenarios = {c["scenario"] for r in reports.values() for c in r["cases"]}
    missing = sorted(scenarios - set(accepted))
    ok(not missing, "every scenario has accepted diagnoses"
       f"{': not ' + ', '.join(missing) if missing else ''}")
    for kernel in MUST_PASS:
        bad = [c["id"] for c in reports.get(kernel, {"cases": []})["cases"]
               if c["result"] in ("fail", "xfail", "error", "xpass", "control-missed")]
        ok(kernel in reports and not bad, f"{kernel} (no mutant) passes every case"
           f"{': ' + ', '.join(bad[:5]) if bad else ''}")
    check_table(doc, a.reports)
    check_controls(reports, accepted)
    check_listed_rows(rows, reports)
    counts = check_pairs(reports, accepted, listed)
    print(f"# pairs that ran: {counts['ran']}, caught: {counts['caught']}, "
          f"listed as uncatchable: {counts['listed']}")
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
