#!/bin/bash
# The per-run SKIP plan on this host: rows whose device is missing here (vfio without
# --vfio-device, verbs-remote and ofi-remote without --peer, and whatever else this host
# lacks) give the same TAP, JSON and JUnit with the plan as without it (FORKPIN_SKIP_PLAN=0:
# one process per case), durations and time stamps aside, and the planned run forks fewer
# processes.
# usage: tests/integration/skip_plan.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sel=(-b iouring,vfio,verbs-remote,ofi-remote,guptest,iommufd-mock -m anon,hugetlb-1g,memfd --seed 7)
run() { # run NAME [ENV...]: one run into $tmp/NAME.{tap,json,xml}, its exit code in NAME.rc
	local name=$1
	shift
	env "$@" "$fp" run "${sel[@]}" --json "$tmp/$name.json" --junit "$tmp/$name.xml" \
		>"$tmp/$name.tap" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}
run planned
run unplanned FORKPIN_SKIP_PLAN=0
ok $(cmp -s "$tmp/planned.rc" "$tmp/unplanned.rc" && echo 0 || echo 1) \
	"the same exit code with and without the plan ($(cat "$tmp/planned.rc"))"
# TAP has no timings; JUnit's are its time attributes and time stamp.
ok $(cmp -s "$tmp/planned.tap" "$tmp/unplanned.tap" && echo 0 || echo 1) "the same TAP"
[ -s "$tmp/planned.tap" ] && diff "$tmp/planned.tap" "$tmp/unplanned.tap" | head -5 | sed 's/^/# /'
untimed() { sed -E 's/ (time|timestamp)="[^"]*"//g' "$1"; }
ok $(cmp -s <(untimed "$tmp/planned.xml") <(untimed "$tmp/unplanned.xml") && echo 0 || echo 1) \
	"the same JUnit, times aside"
python3 - "$tmp/planned.json" "$tmp/unplanned.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def untimed(r):
    r = dict(r, cases=[{k: v for k, v in c.items() if k != "duration_s"} for c in r["cases"]])
    r["totals"] = {k: v for k, v in r["totals"].items() if k != "duration_s"}
    r.pop("timestamp", None)
    return r
same = untimed(a) == untimed(b)
skips = sum(c["result"] == "skip" for c in a["cases"])
print(f"# {len(a['cases'])} cases, {skips} SKIP")
sys.exit(0 if same else 1)
PY
ok $? "the same JSON, durations and time stamp aside"
# Count the processes each run forks: the planned one skips the rows with no device here.
if command -v strace >/dev/null; then
	forks() {
		env "$@" strace -f -e trace=clone,clone3,fork,vfork -o "$tmp/st" \
			"$fp" run "${sel[@]}" >/dev/null 2>&1
		grep -cE '(clone|clone3|fork)\(' "$tmp/st"
	}
	with=$(forks)
	without=$(forks FORKPIN_SKIP_PLAN=0)
	ok $([ "$with" -lt "$without" ] && echo 0 || echo 1) \
		"the planned run forks fewer processes ($with against $without)"
fi
tap_done
