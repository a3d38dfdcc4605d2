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
FORKPIN_VM_RUN=$tmp/run-report "$fp" vm --json="$tmp/j.json" -b iouring
ok $? "forkpin vm --json=FILE runs"
ok "$(grep -q 'the guest' "$tmp/j.json" && echo 0 || echo 1)" "--json=FILE receives the guest's report"
ok "$(grep -q -- '--json=' "$tmp/args" && echo 1 || echo 0)" "--json=FILE does not reach the guest's run"
ok "$([ ! -e "$tmp/j.json.tmp" ] && echo 0 || echo 1)" "no temp file is left beside it"
# A guest that hangs: setup/vm/run exits 3; the cases its run streamed come back as
# FILE.partial and the case that was running is named.
cat >"$tmp/run-hang" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
while [ \$# -gt 0 ]; do
	if [ "\$1" = --out ]; then
		printf '%s\n' '{"forkpin": "x", "partial": true, "cases_planned": 3, "env": {}}' \
			'{"running": "iouring/anon/child-writes"}' \
			'{"id": "iouring/anon/child-writes", "result": "pass"}' \
			'{"running": "verbs/anon/parent-writes"}' >"\$2/forkpin.json.partial"
	fi
	shift
done
exit 3
STUB
chmod +x "$tmp/run-hang"
rm -f "$tmp/h.json"
FORKPIN_VM_RUN=$tmp/run-hang "$fp" vm --json "$tmp/h.json" -b iouring,verbs -m anon >/dev/null 2>"$tmp/hang.err"
rc=$?
out=$(cat "$tmp/hang.err")
ok "$([ $rc = 3 ] && echo 0 || echo 1)" "a guest that did not finish: forkpin vm exits 3 (got $rc)"
contains "1 case(s) finished; it hung or crashed in verbs/anon/parent-writes" \
	"the hang names the case that was running"
ok "$([ ! -e "$tmp/h.json" ] && grep -q child-writes "$tmp/h.json.partial" && echo 0 || echo 1)" \
	"the finished cases come back as FILE.partial, never as FILE"
# With --jobs several cases run at once and end in any order: the hang names those without
# a result line.
cat >"$tmp/run-hang-jobs" <<STUB
#!/bin/bash
[ "\$1" = --list-options ] && exec "$here/../setup/vm/run" --list-options
while [ \$# -gt 0 ]; do
	if [ "\$1" = --out ]; then
		printf '%s\n' '{"forkpin": "x", "partial": true, "cases_planned": 4, "env": {}}' \
			'{"running": "iouring/anon/child-writes"}' \
			'{"running": "verbs/anon/parent-writes"}' \
			'{"running": "vfio/anon/child-writes"}' \
			'{"id": "iouring/anon/child-writes", "result": "pass"}' \
			'{"running": "vfio/anon/parent-writes"}' \
			'{"id": "vfio/anon/child-writes", "result": "pass"}' >"\$2/forkpin.json.partial"
	fi
	shift
done
exit 3
STUB
chmod +x "$tmp/run-hang-jobs"
FORKPIN_VM_RUN=$tmp/run-hang-jobs "$fp" vm -j 3 -b iouring,verbs -m anon >/dev/null 2>"$tmp/hang.err"
out=$(cat "$tmp/hang.err")
contains "2 case(s) finished; it hung or crashed with these cases running: verbs/anon/parent-writes, vfio/anon/parent-writes" \
	"with several cases running the hang names each that did not finish"
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
