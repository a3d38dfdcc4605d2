#!/usr/bin/env python3
"""Validate forkpin JSON reports against docs/json-schema.json (or `forkpin merge --json`
output against docs/merge-schema.json), as TAP.

usage: check_schema.py SCHEMA REPORT...

A small validator for the subset of JSON Schema the schema uses (python3-jsonschema is not
always installed); a keyword it does not know is an error, so the schema cannot grow past
what is checked. Where python3-jsonschema is installed it validates too. Each report is
also broken on purpose (a required member dropped, a wrong type, a bad verdict) to show
the check fails.
"""
import copy
import json
import re
import sys

ANNOTATIONS = {"$schema", "$id", "title", "description"}
TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def type_ok(value, name):
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def resolve(root, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref is supported: " + ref)
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def validate(root, schema, value, path="$"):
    """Yield one message per violation."""
    if schema is True or schema == {}:
        return
    if schema is False:
        yield f"{path}: no value is allowed here"
        return
    for key, arg in schema.items():
        if key in ANNOTATIONS or key == "$defs":
            continue
        if key == "$ref":
            yield from validate(root, resolve(root, arg), value, path)
        elif key == "type":
            if not type_ok(value, arg):
                yield f"{path}: {type(value).__name__} where the schema wants {arg}"
                return
        elif key == "required":
            for name in arg:
                if isinstance(value, dict) and name not in value:
                    yield f"{path}: the required member {name!r} is missing"
        elif key == "properties":
            for name, sub in arg.items():
                if isinstance(value, dict) and name in value:
                    yield from validate(root, sub, value[name], f"{path}.{name}")
        elif key == "additionalProperties":
            known = schema.get("properties", {})
            for name, item in (value.items() if isinstance(value, dict) else []):
                if name not in known:
                    yield from validate(root, arg, item, f"{path}.{name}")
        elif key == "items":
            for i, item in enumerate(value if isinstance(value, list) else []):
                yield from validate(root, arg, item, f"{path}[{i}]")
        elif key == "enum":
            if value not in arg:
                yield f"{path}: {value!r} is not one of {arg}"
        elif key == "const":
            if value != arg:
                yield f"{path}: {value!r} is not {arg!r}"
        elif key == "minimum":
            if isinstance(value, (int, float)) and value < arg:
                yield f"{path}: {value} is below {arg}"
        elif key == "minLength":
            if isinstance(value, str) and len(value) < arg:
                yield f"{path}: shorter than {arg}"
        elif key == "pattern":
            if isinstance(value, str) and not re.search(arg, value):
                yield f"{path}: {value!r} does not match {arg}"
        else:
            raise ValueError(f"schema keyword {key!r} is not implemented by this validator")


n = 0
failed = 0


def ok(cond, what, detail=""):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")
    if not cond:
        failed += 1
        for line in str(detail).splitlines()[:10]:
            print("# " + line)


def merge_breakages(merged):
    """Copies of `forkpin merge --json` output @merged that the schema must reject."""
    broken = copy.deepcopy(merged)
    broken.pop("exit_code", None)
    yield "without exit_code", broken
    broken = copy.deepcopy(merged)
    broken["exit_code"] = 3
    yield "with exit code 3", broken
    if merged["nodes"]:
        broken = copy.deepcopy(merged)
        broken["nodes"][0]["verdict"] = "fine"
        yield "with a node verdict 'fine'", broken
        broken = copy.deepcopy(merged)
        broken["nodes"][0]["counts"]["FAIL"] = -1
        yield "with a negative count", broken
        broken = copy.deepcopy(merged)
        del broken["nodes"][0]["counts"]["not-run"]
        yield "without the not-run count", broken
    if merged["cases"]:
        broken = copy.deepcopy(merged)
        broken["cases"][0]["results"][0]["result"] = "fail"
        yield "with a cell 'fail' (the merged cells say FAIL)", broken
        broken = copy.deepcopy(merged)
        broken["cases"][0]["extra"] = 1
        yield "with an unknown member in a case", broken


def breakages(report):
    """Copies of @report that the schema must reject."""
    if "nodes" in report:
        yield from merge_breakages(report)
        return
    broken = copy.deepcopy(report)
    broken.pop("schema_version", None)
    yield "without schema_version", broken
    broken = copy.deepcopy(report)
    broken["totals"]["fail"] = "0"
    yield "with totals.fail a string", broken
    if report["cases"]:
        broken = copy.deepcopy(report)
        broken["cases"][0]["result"] = "maybe"
        yield "with a case verdict 'maybe'", broken
    broken = copy.deepcopy(report)
    broken["complete"] = "yes"
    yield "with complete a string", broken
    broken = copy.deepcopy(report)
    broken["hostname"] = ""
    yield "with an empty hostname", broken
    broken = copy.deepcopy(report)
    broken["env"]["node.hostname"] = 7
    yield "with an env value that is not a string", broken


def main():
    schema = json.load(open(sys.argv[1]))
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    for path in sys.argv[2:]:
        report = json.load(open(path))
        errors = list(validate(schema, schema, report))
        ok(not errors, f"{path} is valid", "\n".join(errors))
        if jsonschema:
            try:
                jsonschema.validate(report, schema)
                ok(True, f"{path} is valid for python3-jsonschema too")
            except jsonschema.ValidationError as e:
                ok(False, f"{path} is valid for python3-jsonschema too", e.message)
        for what, broken in breakages(report):
            ok(list(validate(schema, schema, broken)) != [], f"{path} {what} is rejected")
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
