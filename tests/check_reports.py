#!/usr/bin/env python3
"""Parse a forkpin JSON report and a JUnit report back and check they agree.

usage: check_reports.py JSON JUNIT [--cases N] [--failed N]
Prints TAP; exit 1 on any problem.
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

results = []


def ok(cond, what):
    results.append(cond)
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {what}")
    return cond


def main():
    args = sys.argv[1:]
    json_path, junit_path = args[0], args[1]
    want_cases = int(args[args.index("--cases") + 1]) if "--cases" in args else None
    want_failed = int(args[args.index("--failed") + 1]) if "--failed" in args else None

    with open(json_path, encoding="utf-8") as f:
        report = json.load(f)
    ok(True, "the JSON report parses")
    cases = report["cases"]
    ok(isinstance(report["env"], dict) and "kernel.release" in report["env"],
       "the JSON report carries the env fingerprint")
    needed = {"id", "backend", "memtype", "scenario", "control", "result", "status",
              "diagnosis", "duration_s", "pages_checked"}
    ok(all(needed <= set(c) for c in cases), "every JSON case has id, result, diagnosis, duration")
    ok(all(c["id"] == f"{c['backend']}/{c['memtype']}/{c['scenario']}" for c in cases),
       "JSON ids are backend/memtype/scenario")
    verdicts = {"pass", "fail", "skip", "control-detected", "control-missed", "xfail"}
    ok(all(c["result"] in verdicts for c in cases), "every result is a known verdict")
    failed = sum(c["result"] in ("fail", "control-missed") for c in cases)
    ok(report["totals"]["failed"] == failed, "JSON totals agree with the cases")
    if want_cases is not None:
        ok(len(cases) == want_cases, f"JSON has {want_cases} cases ({len(cases)})")
    if want_failed is not None:
        ok(failed == want_failed, f"JSON has {want_failed} failed cases ({failed})")
    ok(all(c["diagnosis"] for c in cases if c["result"] in ("fail", "control-detected")),
       "every failure and every detected control has a diagnosis")

    tree = ET.parse(junit_path)
    ok(True, "the JUnit report is well-formed XML")
    suite = tree.getroot().find("testsuite")
    tcs = suite.findall("testcase")
    ok(int(suite.get("tests")) == len(tcs) == len(cases), "JUnit has one testcase per case")
    ok(int(suite.get("failures")) == len(suite.findall("testcase/failure")) == failed,
       "JUnit failures agree with JSON")
    ok(int(suite.get("skipped")) == len(suite.findall("testcase/skipped")),
       "JUnit skipped count agrees")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    ok(props.get("kernel.release") == report["env"]["kernel.release"],
       "JUnit properties carry the same fingerprint")
    junit_ids = [f"{t.get('classname').replace('.', '/', 1)}/{t.get('name')}" for t in tcs]
    ok(junit_ids == [c["id"] for c in cases], "JUnit and JSON list the same cases in order")
    for c, t in zip(cases, tcs):
        f = t.find("failure")
        if f is not None and c["diagnosis"] and c["diagnosis"].isprintable():
            ok(c["diagnosis"] in f.get("message"), f"JUnit failure of {c['id']} has the diagnosis")
    try:
        lint = subprocess.run(["xmllint", "--noout", junit_path], capture_output=True)
        ok(lint.returncode == 0, "xmllint accepts the JUnit report")
    except FileNotFoundError:
        print("# xmllint not installed: skipped its check")
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
