#!/bin/bash
# forkpin merge on real reports: forkpin runs on this host, each under its own host name (a
# UTS namespace), under different conditions: two that pass, one whose cases time out (real
# errors, one of them accepted as a known failure), one stopped by SIGINT (complete: false),
# one killed by SIGKILL (only its .partial), and the test VM's report from the no-early-cow
# kernel (tests/data: real FAILs). --json is checked against docs/merge-schema.json. Then bad
# input (exit 2).
# usage: tests/merge.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
data=$(dirname "$0")/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FORKPIN_CONFIG=/dev/null # this machine's /etc/forkpin.conf must not change the results

# "${as[@]}" HOST CMD...: CMD with the host name HOST (forkpin reports gethostname()); CMD
# replaces unshare and sh, so $! of a run in the background is forkpin's.
if [ "$(id -u)" = 0 ] && unshare --uts true 2>/dev/null; then
	as=(unshare --uts sh -c 'hostname "$0" && exec "$@"')
elif unshare -r --uts true 2>/dev/null; then
	as=(unshare -r --uts sh -c 'hostname "$0" && exec "$@"')
else
	echo "1..0 # SKIP needs root or user namespaces (unshare --uts) to give each report its own host name"
	exit 77
fi

sel=(-b iouring,vmsplice -m anon -s parent-writes,device-reads,child-alive,control-dontneed)
"${as[@]}" node-a "$fp" run "${sel[@]}" --json "$tmp/node-a.json" >/dev/null
ok $? "node-a: a report that passes"
"${as[@]}" node-b "$fp" run "${sel[@]}" --json "$tmp/node-b.json" >/dev/null
ok $? "node-b: the same"
printf 'vmsplice/anon/device-reads   accepted by this test\n' >"$tmp/kf"
"${as[@]}" node-c "$fp" run "${sel[@]}" --timeout 0.000001 --known-failures "$tmp/kf" --json "$tmp/node-c.json" >/dev/null
ok $([ $? = 1 ] && echo 0 || echo 1) "node-c: every case times out (exit 1), one is a known failure"

# node-counts REPORT: "pass FAIL error xfail skip" counted from a node's own report.
node_counts() {
	python3 - "$1" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
def n(pred): return sum(1 for c in cases if pred(c))
err = lambda c: c["result"] == "fail" and c["status"] in ("error", "timeout", "signal")
print(n(lambda c: c["result"] in ("pass", "control-detected")),
      n(lambda c: c["result"] in ("fail", "control-missed") and not err(c)),
      n(err), n(lambda c: c["result"] == "xfail"), n(lambda c: c["result"] == "skip"))
PY
}
# merged-counts MERGED.json HOST: the same counts from merge's JSON.
merged_counts() {
	python3 - "$1" "$2" <<'PY'
import json, sys
node = next(n for n in json.load(open(sys.argv[1]))["nodes"] if n["hostname"] == sys.argv[2])
print(*(node["counts"][k] for k in ("pass", "FAIL", "error", "xfail", "skip")))
PY
}

expect_exit 1 "merge: a node failed" -- "$fp" merge "$tmp/node-a.json" "$tmp/node-b.json" "$tmp/node-c.json" --json "$tmp/m.json" --junit "$tmp/m.xml" --html "$tmp/m.html"
contains "3 nodes, 5 cases; failed: 1 of 3 nodes; differing from the majority: 1" "the headline counts nodes and cases"
first=$(sed -n '/^NODE /{n;p;q}' <<<"$out")
ok $([[ $first == "node-c  FAIL "* ]] && echo 0 || echo 1) "the node that differs comes first ($first)"
contains "iouring/anon/parent-writes: majority pass (2 of 3)
    node-c error: timeout: the case did not finish within 1e-06 s" "each differing case names the node and its diagnosis"
contains "node-c xfail:" "the accepted failure is xfail"
contains "FLEET FAIL" "the verdict"
for h in node-a node-b node-c; do
	want=$(node_counts "$tmp/$h.json")
	got=$(merged_counts "$tmp/m.json" "$h")
	ok $([ "$want" = "$got" ] && echo 0 || echo 1) "$h: merged counts = its report's (pass FAIL error xfail skip: $got)"
done
python3 - "$tmp/m.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
suites = ET.parse(sys.argv[1]).getroot().findall("testsuite")
bad = {s.get("name"): (s.get("errors"), len(s.findall("testcase"))) for s in suites}
assert [s.get("name") for s in suites] == ["node-c", "node-a", "node-b"], bad
assert bad["node-c"] == ("4", 5) and bad["node-a"] == ("0", 5), bad
PY
ok $? "--junit: a testsuite per node, node-c with its 4 errors"
python3 - "$tmp/m.html" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    cells = []
    def handle_starttag(self, tag, attrs):
        if tag == "td" and "odd" in (dict(attrs).get("class") or ""):
            self.cells.append(tag)
p = P(); p.feed(open(sys.argv[1]).read())
assert len(p.cells) == 5, p.cells
PY
ok $? "--html: the grid marks node-c's 5 cells as differing"

expect_exit 0 "merge: two nodes that pass" -- "$fp" merge "$tmp/node-a.json" "$tmp/node-b.json"
contains "FLEET PASS" "the fleet passes"
ok $(grep -q "Cases where" <<<"$out" && echo 1 || echo 0) "and no case differs"

# A run stopped by SIGINT (complete: false) and one killed (only its .partial): never a pass.
# wait_cases FILE N: until FILE (a .partial) holds N finished cases, at most 20 s.
wait_cases() {
	local i
	for i in $(seq 200); do
		n=$(grep -c '"result"' "$1" 2>/dev/null)
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
"${as[@]}" node-d "$fp" run -b iouring,vmsplice --json "$tmp/node-d.json" >/dev/null &
pid=$!
wait_cases "$tmp/node-d.json.partial" 3
kill -INT $pid
wait $pid
ok $([ $? = 130 ] && echo 0 || echo 1) "node-d: stopped by SIGINT"
"${as[@]}" node-e "$fp" run -b iouring,vmsplice --json "$tmp/node-e.json" >/dev/null &
pid=$!
wait_cases "$tmp/node-e.json.partial" 3
kill -KILL $pid
wait $pid 2>/dev/null
ok $([ -f "$tmp/node-e.json.partial" ] && [ ! -f "$tmp/node-e.json" ] && echo 0 || echo 1) "node-e: killed, only its .partial is left"
expect_exit 1 "merge: incomplete nodes fail the fleet" -- "$fp" merge "$tmp/node-a.json" "$tmp/node-d.json" "$tmp/node-e.json.partial" --json "$tmp/i.json"
contains "node-d: INCOMPLETE: interrupted by SIGINT" "the SIGINT run is incomplete"
contains "node-e: INCOMPLETE: no final report" "the killed run is incomplete"
python3 - "$tmp/i.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
nodes = {n["hostname"]: n for n in m["nodes"]}
assert nodes["node-d"]["verdict"] in ("INCOMPLETE", "FAIL") and not nodes["node-d"]["complete"], nodes["node-d"]
assert nodes["node-e"]["partial"] and nodes["node-e"]["verdict"] in ("INCOMPLETE", "FAIL"), nodes["node-e"]
assert nodes["node-a"]["verdict"] == "pass", nodes["node-a"]
order = [n["hostname"] for n in m["nodes"]]
assert order[-1] == "node-a", order
PY
ok $? "--json: node-d and node-e are incomplete, listed before node-a, which passes"
# --json against its schema: a failed fleet (node-c's errors) and an incomplete one
out=$(python3 "$(dirname "$0")/check_schema.py" "$(dirname "$0")/../docs/merge-schema.json" \
	"$tmp/m.json" "$tmp/i.json" 2>&1)
rc=$?
ok $rc "--json of both merges is valid for docs/merge-schema.json, broken copies are not"
[ $rc = 0 ] || echo "$out" | grep -v '^ok' | sed 's/^/# /'

# Real FAILs: the test VM's report from the no-early-cow kernel, beside two host nodes.
expect_exit 1 "merge: the no-early-cow kernel's report" -- "$fp" merge "$tmp/node-a.json" "$tmp/node-b.json" "$data/vm-no-early-cow-iouring-anon.json"
contains "(none)  FAIL " "the VM (host name (none)) fails"
contains "(none) FAIL: mismatch: parent: 16/16 pages" "with the diagnosis of the lost DMA"

# Bad input: one line naming the fix, exit 2.
expect_exit 2 "two reports from one host" -- "$fp" merge "$data/vm-6.1-iouring-anon.json" "$data/vm-no-early-cow-iouring-anon.json"
contains "are both from host (none): give one report per node" "the host is named"
expect_exit 2 "a missing report" -- "$fp" merge "$tmp/node-a.json" "$tmp/none.json"
contains "$tmp/none.json: No such file or directory" "the file is named"
printf '{"cases": [1,]}\n' >"$tmp/bad.json"
expect_exit 2 "invalid JSON" -- "$fp" merge "$tmp/node-a.json" "$tmp/bad.json"
contains "bad.json: line 1, column 14:" "the line and column are named"
echo '{}' >"$tmp/empty.json"
expect_exit 2 "JSON that is not a report" -- "$fp" merge "$tmp/empty.json"
contains 'no "cases" array' "the missing member is named"
sed 's/"schema_version": 1/"schema_version": 99/' "$tmp/node-a.json" >"$tmp/future.json"
expect_exit 2 "a newer schema" -- "$fp" merge "$tmp/future.json"
contains "merge it with a newer forkpin" "the fix is named"
printf 'not json\n{"id": 1}\n' >"$tmp/x.partial"
expect_exit 2 "a .partial that is not one" -- "$fp" merge "$tmp/x.partial"
expect_exit 2 "no report" -- "$fp" merge
contains "give the reports" "the usage is named"
expect_exit 2 "an unknown option" -- "$fp" merge --frob "$tmp/node-a.json"
contains "--frob: not an option of \`forkpin merge\`" "the option is named"
expect_exit 2 "an unwritable --json" -- "$fp" merge --json /nonexistent/m.json "$tmp/node-a.json"
contains "--json /nonexistent/m.json" "the path is named"
expect_exit 0 "merge --help" -- "$fp" merge --help
contains "usage: forkpin merge" "it prints the usage"
tap_done
