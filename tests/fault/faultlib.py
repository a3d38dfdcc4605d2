"""Shared by the tests/fault/ Python tests: TAP output, report validation, leftovers."""
import json
import os
import xml.etree.ElementTree as ET

_results = []


def ok(cond, what, detail=""):
    _results.append(bool(cond))
    print(f"{'ok' if cond else 'not ok'} {len(_results)} - {what}", flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[:8]:
            print(f"# {line}")
    return cond


def done():
    print(f"1..{len(_results)}")
    return 0 if all(_results) else 1


def load_json(path):
    """The parsed JSON report, or the error text."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return f"{path}: {e}"


def load_junit(path):
    """The <testsuite> element, or the error text."""
    try:
        return ET.parse(path).getroot().find("testsuite")
    except (OSError, ET.ParseError) as e:
        return f"{path}: {e}"


def incomplete_reports_ok(json_path, junit_path, signame):
    """Both reports parse and say the run was stopped by @signame; returns (ok, detail, n)."""
    rep, suite = load_json(json_path), load_junit(junit_path)
    if isinstance(rep, str) or isinstance(suite, str):
        return False, rep if isinstance(rep, str) else suite, 0
    errors = [e for t in suite.findall("testcase") if t.get("classname") == "forkpin.run"
              for e in t.findall("error")]
    good = (rep.get("complete") is False and rep.get("interrupted") == signame
            and rep["totals"]["exit_code"] != 0 and len(errors) == 1
            and errors[0].get("type") == signame and suite.get("errors") == "1")
    detail = (f"complete={rep.get('complete')} interrupted={rep.get('interrupted')} "
              f"junit errors={suite.get('errors')}")
    return good, detail, len(rep.get("cases", []))


def marked_env(tag):
    """An environment that marks every process started from it, for leftovers()."""
    env = dict(os.environ)
    env["FORKPIN_FAULT_TAG"] = tag
    return env


def leftovers(tag):
    """Processes still running whose environment carries @tag (zombies excluded)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"FORKPIN_FAULT_TAG={tag}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(pid)
        except OSError:
            continue
    return found
