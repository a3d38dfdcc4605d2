#!/bin/bash
# `forkpin vm` without booting a VM: its VM options come from setup/vm/run --list-options and
# are split from forkpin run's, and setup/lib/compare-kernels reads the guests' reports.
# usage: tests/vm_host.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
compare=$here/../setup/lib/compare-kernels

expect_exit 0 "forkpin vm --help" -- "$fp" vm --help
contains "--vm-mem VALUE" "it lists setup/vm/run's --mem under forkpin vm's name"
contains "--kernel-release VALUE" "and the options forkpin vm passes as they are"
ok $(case $out in *"--out VALUE"*) echo 1 ;; *) echo 0 ;; esac) "but not --out, which it sets"

# A stand-in for setup/vm/run: the real option table, then it prints what it was given.
cat >"$tmp/run" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
printf '%s\n' "\$@" >"$tmp/args"
STUB
chmod +x "$tmp/run"
FORKPIN_VM_RUN=$tmp/run "$fp" vm --vm-mem 2048 --vm-verbose -b iouring --timeout 3 x/y/z
ok $? "forkpin vm runs setup/vm/run"
args=$(tr '\n' ' ' <"$tmp/args")
case $args in
"--mem 2048 -v --edu 4 --out "*" -- /bin/sh -c "*" run"*) ok 0 "VM options go first, renamed" ;;
*) ok 1 "VM options go first, renamed: $args" ;;
esac
case $args in
*" -j 4 -b iouring --timeout 3 x/y/z ") ok 0 "forkpin run's arguments go to the guest" ;;
*) ok 1 "forkpin run's arguments go to the guest: $args" ;;
esac
FORKPIN_VM_RUN=$tmp/run "$fp" vm --edu 4 -j 4 -b vfio
args=$(tr '\n' ' ' <"$tmp/args")
case $args in
"--edu 4 --out "*" -j 4 -b vfio ") ok 0 "--edu goes to setup/vm/run, -j to the guest's run" ;;
*) ok 1 "--edu goes to setup/vm/run, -j to the guest's run: $args" ;;
esac
# Without -j the guest's run takes two cases per guest CPU, and without --edu the guest gets
# one edu device per job; a -j of the user's (any spelling) sizes --edu and is not doubled.
vm_args() {
	FORKPIN_VM_RUN=$tmp/run "$fp" vm "$@" && tr '\n' ' ' <"$tmp/args" | sed 's|--out [^ ]* -- .*/forkpin |... run |'
}
for c in "--vm-cpus 1 -b vfio|--cpus 1 --edu 2 ... run -j 2 -b vfio " \
	"--vm-cpus 8 -b vfio|--cpus 8 --edu 8 ... run -j 8 -b vfio " \
	"-j 1 -b vfio|--edu 1 ... run -j 1 -b vfio " \
	"--jobs=3 -b vfio|--edu 3 ... run --jobs=3 -b vfio " \
	"-j6 --edu 2 -b vfio|--edu 2 ... run -j6 -b vfio "; do
	# shellcheck disable=SC2086 # the words are the arguments
	got=$(vm_args ${c%%|*})
	ok "$([ "$got" = "${c#*|}" ] && echo 0 || echo 1)" "forkpin vm ${c%%|*}: setup/vm/run gets ${c#*|}(got: $got)"
done
# --json=FILE (and --json FILE) name host paths: the guest's report comes back there and the
# option never reaches the guest's forkpin run.
cat >"$tmp/run-report" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
printf '%s\n' "\$@" >"$tmp/args"
while [ \$# -gt 0 ]; do
	[ "\$1" = --out ] && echo '{"from": "the guest"}' >"\$2/forkpin.json"
	shift
done
STUB
chmod +x "$tmp/run-report"
echo previous >"$tmp/j.json"
echo stale >"$tmp/j.json.partial"
FORKPIN_VM_RUN=$tmp/run-report "$fp" vm --json="$tmp/j.json" -b iouring
ok $? "forkpin vm --json=FILE runs"
ok "$(grep -q 'the guest' "$tmp/j.json" && echo 0 || echo 1)" "--json=FILE receives the guest's report"
ok "$(grep -q -- '--json=' "$tmp/args" && echo 1 || echo 0)" "--json=FILE does not reach the guest's run"
ok "$([ ! -e "$tmp/j.json.tmp" ] && [ ! -e "$tmp/j.json.partial" ] && echo 0 || echo 1)" \
	"no temp file is left beside it, and an earlier run's stream is gone"
# case_line ID: one case object as the guest's run streams it.
case_line() {
	local id=$1 rest=${1#*/}
	printf '{"id": "%s", "backend": "%s", "memtype": "%s", "scenario": "%s", "control": false, "result": "pass", "status": "pass", "diagnosis": "", "note": "", "explanation": "", "pages_checked": 1, "duration_s": 0.1}' \
		"$id" "${id%%/*}" "${rest%%/*}" "${id##*/}"
}
header='{"forkpin": "x", "partial": true, "cases_planned": 3, "env": {"node.hostname": "guest"}}'
# A guest that hangs: setup/vm/run exits 3 and leaves its reason; the cases the guest's run
# streamed come back as reports marked incomplete that name the case that was running.
cat >"$tmp/run-hang" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
while [ \$# -gt 0 ]; do
	if [ "\$1" = --out ]; then
		printf '%s\n' '$header' '{"running": "iouring/anon/child-writes"}' \
			'$(case_line iouring/anon/child-writes)' \
			'{"running": "verbs/anon/parent-writes"}' >"\$2/forkpin.json.partial"
		echo "guest kernel panicked: Kernel panic - not syncing: soft lockup" >"\$2/vm-reason"
	fi
	shift
done
exit 3
STUB
chmod +x "$tmp/run-hang"
echo previous >"$tmp/h.json"
FORKPIN_VM_RUN=$tmp/run-hang "$fp" vm --json "$tmp/h.json" --junit "$tmp/h.xml" -b iouring,verbs \
	-m anon >"$tmp/hang.out" 2>"$tmp/hang.err"
rc=$?
out=$(cat "$tmp/hang.err")
ok "$([ $rc = 3 ] && echo 0 || echo 1)" "a guest that did not finish: forkpin vm exits 3 (got $rc)"
contains "1 of 3 cases finished; running: verbs/anon/parent-writes" \
	"the hang names the case that was running"
python3 - "$tmp/h.json" "$tmp/h.xml" <<'PY'
import json, sys, xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
s = ET.parse(sys.argv[2]).getroot().find("testsuite")
want = "guest kernel panicked: Kernel panic - not syncing: soft lockup during verbs/anon/parent-writes"
good = (r["complete"] is False and r["interrupted"] == want and r["stopped"] == want
        and [c["id"] for c in r["cases"]] == ["iouring/anon/child-writes"]
        and r["env"] == {"node.hostname": "guest"} and s.get("tests") == "2"
        and s.find("testcase[@name='complete']/error").get("type") == "incomplete")
if not good:
    print("# " + json.dumps(r)[:400])
sys.exit(0 if good else 1)
PY
ok $? "the finished cases come back as FILE and JUnit, marked incomplete with the reason"
out=$(cat "$tmp/hang.out")
contains "Bail out! guest kernel panicked: Kernel panic - not syncing: soft lockup during verbs/anon/parent-writes" \
	"TAP ends with Bail out! naming the reason and the case"
# With --jobs several cases run at once and end in any order: the hang names those without
# a result line.
cat >"$tmp/run-hang-jobs" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
while [ \$# -gt 0 ]; do
	if [ "\$1" = --out ]; then
		printf '%s\n' '${header/: 3,/: 4,}' \
			'{"running": "iouring/anon/child-writes"}' \
			'{"running": "verbs/anon/parent-writes"}' \
			'{"running": "vfio/anon/child-writes"}' \
			'$(case_line iouring/anon/child-writes)' \
			'{"running": "vfio/anon/parent-writes"}' \
			'$(case_line vfio/anon/child-writes)' >"\$2/forkpin.json.partial"
	fi
	shift
done
exit 3
STUB
chmod +x "$tmp/run-hang-jobs"
FORKPIN_VM_RUN=$tmp/run-hang-jobs "$fp" vm -j 3 -b iouring,verbs -m anon >/dev/null 2>"$tmp/hang.err"
out=$(cat "$tmp/hang.err")
contains "2 of 4 cases finished; running: verbs/anon/parent-writes, vfio/anon/parent-writes" \
	"with several cases running the hang names each that did not finish"
# A stop signal while the guest runs: setup/vm/run exits 128 + N with what the guest
# streamed; forkpin vm writes it as reports marked interrupted and exits 128 + N.
cat >"$tmp/run-stop" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
trap 'exit 143' TERM
while [ \$# -gt 0 ]; do
	if [ "\$1" = --out ]; then
		printf '%s\n' '$header' '{"running": "iouring/anon/child-writes"}' \
			'$(case_line iouring/anon/child-writes)' \
			'{"running": "iouring/anon/parent-writes"}' >"\$2/forkpin.json.partial"
	fi
	shift
done
touch "$tmp/stop-ready"
sleep 30 &
wait
STUB
chmod +x "$tmp/run-stop"
echo previous >"$tmp/s.json"
FORKPIN_VM_RUN=$tmp/run-stop "$fp" vm --json "$tmp/s.json" -b iouring -m anon >/dev/null 2>"$tmp/stop.err" &
pid=$!
for _ in $(seq 100); do [ -e "$tmp/stop-ready" ] && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
ok "$([ $rc = 143 ] && echo 0 || echo 1)" "SIGTERM while the guest runs: forkpin vm exits 143 (got $rc)"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["complete"] is False and r["interrupted"] == "SIGTERM" and len(r["cases"]) == 1
              and r["stopped"] == "interrupted by SIGTERM during iouring/anon/parent-writes"
              and r["totals"]["exit_code"] == 143))' "$tmp/s.json"
ok $? "its report holds the case done, marked interrupted by SIGTERM during the one running"
expect_exit 2 "--json and --junit naming one file" -- "$fp" vm --json "$tmp/same" \
	--junit "$tmp/./same" -b iouring
ok "$([ ! -e "$tmp/same" ] && echo 0 || echo 1)" "and nothing was written"
expect_exit 2 "--compare needs --kernels" -- "$fp" vm --compare "$tmp/c.tsv" x
ok $([ ! -e "$tmp/c.tsv" ] && echo 0 || echo 1) "and nothing was written"

# compare-kernels: two reports that differ in one case, and a kernel with no report.
"$fp" run 'iouring/anon/parent-writes' vmsplice/anon/device-reads --json "$tmp/a.json" >/dev/null
python3 - "$tmp/a.json" "$tmp/b.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["cases"][0]["result"] = "control-missed"  # a verdict no real run of it gives
json.dump(r, open(sys.argv[2], "w"), indent=4)  # not one case per line
PY
out=$("$compare" --tsv "$tmp/all.tsv" 6.1="$tmp/a.json" 6.12="$tmp/b.json" 7.2="$tmp/none.json")
contains "# comparison over kernels: 6.1 6.12 7.2 (2 cases)" "compare-kernels counts the cases"
a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cases"][0]["result"])' "$tmp/a.json")
contains "iouring/anon/parent-writes                   $(printf '%-16s %-16s' "$a" control-missed) (no run)" \
	"a differing verdict and a missing run are in the table"
ok "$(grep -c . "$tmp/all.tsv" | grep -qx 3; echo $?)" "the TSV has a header and one row per case"
out=$("$compare" --markdown a="$tmp/a.json" b="$tmp/b.json")
contains "| backend | scenario | a (" "--markdown draws catch-table's table"
# A known kernel limitation (XFAIL) is a hazard the kernel has: the cell must say so.
python3 - "$tmp/a.json" "$tmp/x.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = next(c for c in r["cases"] if c["backend"] == "iouring")
c["result"], c["diagnosis"] = "xfail", "parent: 1/1 pages: device wrote into a page the parent no longer maps"
json.dump(r, open(sys.argv[2], "w"))
PY
out=$("$compare" --markdown x="$tmp/x.json")
contains "| iouring | parent-writes | **XFAIL** lost DMA: anon (0/1 pass) |" "--markdown shows an XFAIL"
tap_done
