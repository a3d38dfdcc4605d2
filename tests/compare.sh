#!/bin/bash
# forkpin compare on real reports: a report against itself, against a copy with a
# regression, a fix, a required backend that only skipped; and bad input (exit 2).
# usage: tests/compare.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$fp" run --require iouring -b iouring,vmsplice -m anon,thp-pmd --json "$tmp/base.json" >/dev/null
ok $? "a base report"
# edit REPORT OUT PYTHON: OUT is REPORT with the Python statements applied to d (the report).
edit() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))' "$@"
}

expect_exit 0 "a report against itself" -- "$fp" compare "$tmp/base.json" "$tmp/base.json"
contains "no regression" "no regression"
ok $(grep -q -e Regressions -e "Environment differences" <<<"$out" && echo 1 || echo 0) "and nothing listed"

edit "$tmp/base.json" "$tmp/new.json" '
c = next(c for c in d["cases"] if c["id"] == "iouring/anon/parent-writes")
c["result"] = "fail"; c["explanation"] = "mismatch: edited"
d["env"]["kernel.release"] = "6.1.0-edited"'
expect_exit 1 "a case that passed and now fails" -- "$fp" compare "$tmp/base.json" "$tmp/new.json"
contains "Regressions (passed in BASE, fail in NEW) (1):
  iouring/anon/parent-writes: pass -> fail: mismatch: edited" "the regression is named"
contains "kernel.release: " "the environment difference is shown"
contains "-> 6.1.0-edited" "with the new value"
contains "REGRESSION" "the verdict says so"
expect_exit 0 "the other way round" -- "$fp" compare "$tmp/new.json" "$tmp/base.json"
contains "Fixed (1):
  iouring/anon/parent-writes: fail -> pass" "the case is fixed"

edit "$tmp/base.json" "$tmp/skipped.json" '
for c in d["cases"]:
    if c["backend"] == "iouring": c["result"] = "skip"; c["explanation"] = "no io_uring"'
expect_exit 1 "a required backend newly skipped" -- "$fp" compare "$tmp/base.json" "$tmp/skipped.json"
contains "Required backends newly skipped (1):
  iouring: ran in BASE, every case skipped in NEW" "the backend is named"
contains "Newly skipped (" "its cases are listed as newly skipped"

edit "$tmp/base.json" "$tmp/still.json" '
c = next(c for c in d["cases"] if c["id"] == "iouring/anon/parent-writes")
c["result"] = "xfail"'
expect_exit 0 "a failure in both is not a regression" -- "$fp" compare "$tmp/new.json" "$tmp/still.json"
contains "Still failing (1):" "it is still failing"

# Two real reports from the test VM (tests/data): Debian's 6.1 and the no-early-cow mutant
# (setup/kernel/build), `forkpin vm -b iouring -m anon --json`.
data=$(dirname "$0")/data
expect_exit 1 "6.1 against the no-early-cow kernel" -- "$fp" compare "$data/vm-6.1-iouring-anon.json" "$data/vm-no-early-cow-iouring-anon.json"
contains "Regressions (passed in BASE, fail in NEW) (7):" "its seven regressions are listed"
contains "iouring/anon/parent-writes: pass -> fail: mismatch: parent: 16/16 pages" "with their diagnoses"
contains "kernel.release: 6.1.0-57-amd64 -> 6.12.117-forkpin-no-early-cow" "the kernels differ"
ok $(grep -q "control-dontneed" <<<"$out" && echo 1 || echo 0) "the control, detected on both, is not listed"
expect_exit 0 "and back: all fixed" -- "$fp" compare "$data/vm-no-early-cow-iouring-anon.json" "$data/vm-6.1-iouring-anon.json"
contains "Fixed (7):" "seven fixed"
python3 "$(dirname "$0")/check_schema.py" "$(dirname "$0")/../docs/json-schema.json" "$data/vm-6.1-iouring-anon.json" >/dev/null
ok $? "the VM report follows docs/json-schema.json"

expect_exit 2 "a missing report" -- "$fp" compare "$tmp/none.json" "$tmp/base.json"
contains "$tmp/none.json: No such file" "the file is named"
printf '{"cases": [1,]}\n' >"$tmp/bad.json"
expect_exit 2 "invalid JSON" -- "$fp" compare "$tmp/base.json" "$tmp/bad.json"
contains "bad.json: line 1, column 14:" "the line and column are named"
echo '{}' >"$tmp/empty.json"
expect_exit 2 "JSON that is not a report" -- "$fp" compare "$tmp/empty.json" "$tmp/base.json"
contains 'no "cases" array' "the missing member is named"
edit "$tmp/base.json" "$tmp/future.json" 'd["schema_version"] = 99'
expect_exit 2 "a newer schema" -- "$fp" compare "$tmp/base.json" "$tmp/future.json"
contains "compare it with a newer forkpin" "the fix is named"
edit "$tmp/base.json" "$tmp/verdict.json" 'd["cases"][0]["result"] = "maybe"'
expect_exit 2 "an unknown verdict" -- "$fp" compare "$tmp/base.json" "$tmp/verdict.json"
expect_exit 2 "one report only" -- "$fp" compare "$tmp/base.json"
expect_exit 2 "an unknown option" -- "$fp" compare --frob "$tmp/base.json" "$tmp/base.json"
contains "--frob: not an option of \`forkpin compare\`" "the option is named"
expect_exit 0 "compare --help" -- "$fp" compare --help
contains "usage: forkpin compare BASE.json NEW.json" "it prints the usage"
tap_done
