#!/usr/bin/env python3
"""Parse a forkpin JSON report and a JUnit report back and check they agree.

usage: check_reports.py JSON JUNIT [--cases N] [--failed N] [--hostile] [--incomplete REASON]
--hostile: the env holds report_writer's hostile UTF-8 strings; check each came out repaired.
--incomplete REASON: the run was stopped; both reports must say so (REASON: e.g. SIGINT).
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


def check_completion(report, incomplete):
    """A stopped run says so in JSON; a complete one says that too."""
    if incomplete is None:
        ok(report.get("complete") is True, "the JSON report says the run is complete")
        return
    ok(report.get("complete") is False, "the JSON report says the run is incomplete")
    ok(incomplete in str(report.get("interrupted")),
       f"JSON 'interrupted' names {incomplete} ({report.get('interrupted')})")
    ok(report["totals"]["exit_code"] != 0, "an incomplete JSON report never has exit_code 0")


def check_junit_completion(suite, run_errors, incomplete):
    errors = [e for t in run_errors for e in t.findall("error")]
    if incomplete is None:
        ok(not errors and int(suite.get("errors")) == 0, "JUnit has no run error")
        return
    ok(len(errors) == 1 and int(suite.get("errors")) == 1, "JUnit carries one run <error>")
    ok(bool(errors) and incomplete in (errors[0].get("type") + errors[0].get("message")),
       f"the JUnit <error> names {incomplete}")


# What report_writer's hostile env strings must become: invalid bytes one U+FFFD per
# maximal invalid subpart (Python's "replace" is the oracle), a cut character dropped.
HOSTILE_RAW = {
    "utf8.invalid": b"a\xff\xfe b\xc0\xaf c\xed\xa0\x80 d\xe2\x82X e\xf4\x90\x80\x80 f",
    "utf8.valid": "caf\u00e9 \u20ac \U0001f427 \ufffd".encode(),
}
XML_FORBIDDEN = {"\ufffe", "\uffff"} | {chr(c) for c in range(0x20) if c not in (9, 10, 13)}


def check_hostile(report, props):
    env = report["env"]
    for key, raw in HOSTILE_RAW.items():
        want = raw.decode("utf-8", "replace")
        ok(env.get(key) == want, f"JSON {key} is repaired as Python decodes it ({env.get(key)!r})")
        ok(props.get(key) == want, f"JUnit {key} is repaired as Python decodes it")
    ok(env.get("utf8.cut") == "\u00e9" * 127,
       "JSON: a value cut inside a character ends on the character before")
    ok(props.get("utf8.cut") == "\u00e9" * 127, "JUnit: the cut value ends on a character")
    ok(env.get("utf8.nonchar") == "x\ufffey\uffffz\x7f\x85w",
       "JSON keeps U+FFFE/U+FFFF and controls (escaped): they are valid JSON")
    ok(props.get("utf8.nonchar") == "xyzw", "JUnit drops U+FFFE, U+FFFF and C0/C1 controls")
    texts = list(props.values())
    ok(not any(ch in XML_FORBIDDEN for v in texts if v for ch in v),
       "no XML-forbidden code point reaches the JUnit properties")


def main():
    args = sys.argv[1:]
    json_path, junit_path = args[0], args[1]
    want_cases = int(args[args.index("--cases") + 1]) if "--cases" in args else None
    want_failed = int(args[args.index("--failed") + 1]) if "--failed" in args else None
    incomplete = args[args.index("--incomplete") + 1] if "--incomplete" in args else None

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

    check_completion(report, incomplete)

    tree = ET.parse(junit_path)
    ok(True, "the JUnit report is well-formed XML")
    suite = tree.getroot().find("testsuite")
    run_errors = [t for t in suite.findall("testcase") if t.get("classname") == "forkpin.run"]
    tcs = [t for t in suite.findall("testcase") if t.get("classname") != "forkpin.run"]
    ok(int(suite.get("tests")) == len(tcs) + len(run_errors) and len(tcs) == len(cases),
       "JUnit has one testcase per case")
    check_junit_completion(suite, run_errors, incomplete)
    ok(int(suite.get("failures")) == len(suite.findall("testcase/failure")) == failed,
       "JUnit failures agree with JSON")
    ok(int(suite.get("skipped")) == len(suite.findall("testcase/skipped")),
       "JUnit skipped count agrees")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    ok(props.get("kernel.release") == report["env"]["kernel.release"],
       "JUnit properties carry the same fingerprint")
    if "--hostile" in args:
        check_hostile(report, props)
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
