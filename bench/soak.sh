#!/bin/bash
# bench/soak.sh [-n N] [VM OPTIONS...]: N clean runs (default 100) of a VM matrix slice on one
# kernel, counting false FAILs. The slice is the matrix's hazard core on both real devices:
# verbs (rxe) and vfio (edu), memory types anon, thp-pmd, hugetlb-2m, memfd, scenarios
# parent-writes, child-alive, device-reads, in-flight, many-children, plus the vmsplice
# negative control (it must be detected every time). All N runs go in one VM boot (setup/vm/run;
# VM OPTIONS such as --kernel-release 6.12 go to it). On a kernel with the fork/pin fixes every
# case must pass and every control be detected: any FAIL or ERROR is a false one.
# Prints one line per run and the totals: runs, cases, false FAILs, errors, wall time.
# Exit 0 when no run failed, 1 otherwise, 3 when the guest did not finish.
# Needs a build in build/ (meson setup build && ninja -C build); FORKPIN_BUILD overrides.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
forkpin=${FORKPIN_BUILD:-$top/build}/forkpin
n=100
if [ "${1:-}" = -n ]; then
	n=${2:-}
	shift 2
fi
[[ $n =~ ^[1-9][0-9]*$ ]] || {
	echo "soak: -n takes a positive count" >&2
	exit 2
}
command -v qemu-system-x86_64 >/dev/null 2>&1 || {
	echo "soak: qemu-system-x86_64 not installed" >&2
	exit 77
}
[ -x "$forkpin" ] || {
	echo "soak: $forkpin missing: meson setup build && ninja -C build" >&2
	exit 1
}
out=$(mktemp -d /tmp/forkpin-soak.XXXXXX)
trap 'rm -rf "$out"' EXIT

# In the guest: run the slice N times; one TSV line per run, and the report of a run that
# did not pass kept for the diagnosis.
# shellcheck disable=SC2016 # expanded by the guest shell
guest='
fp=$0 n=$1 o=$FORKPIN_VM_OUT
for i in $(seq "$n"); do
	t0=$(date +%s.%N)
	"$fp" run -b verbs,vfio,vmsplice -m anon,thp-pmd,hugetlb-2m,memfd \
		-s parent-writes,child-alive,device-reads,in-flight,many-children,control-dontneed \
		--timeout 30 --json "$o/run.json" >/dev/null 2>"$o/run.err"
	rc=$?
	python3 - "$o/run.json" "$i" "$rc" "$t0" >>"$o/soak.tsv" <<PY
import json, sys, time
path, i, rc, t0 = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
r = json.load(open(path))
c = r["cases"]
count = lambda f: sum(1 for x in c if f(x))
print(i, rc, len(c), count(lambda x: x["result"] == "pass"),
      count(lambda x: x["result"] == "fail" and x["status"] == "mismatch"),
      count(lambda x: x["status"] in ("error", "timeout", "signal")),
      count(lambda x: x["result"] == "skip"), count(lambda x: x["result"] == "control-detected"),
      count(lambda x: x["result"] == "control-missed"), "%.1f" % (time.time() - t0), sep="\t")
PY
	[ "$rc" = 0 ] || cp "$o/run.json" "$o/failed-$i.json"
	tail -n 1 "$o/soak.tsv"
done
rm -f "$o/run.json"
'
start=$(date +%s)
"$top/setup/vm/run" --timeout $((600 + n * 60)) --out "$out" "$@" -- \
	sh -c "$guest" "$forkpin" "$n" | awk -F'\t' '{ printf "soak: run %s: exit %s, %s cases, %s pass, %s FAIL, %s error, %s skip, controls %s detected %s missed, %s s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
st=${PIPESTATUS[0]}
wall=$(($(date +%s) - start))
[ -s "$out/soak.tsv" ] || {
	echo "soak: no run finished (setup/vm/run exit $st)" >&2
	exit 3
}
for f in "$out"/failed-*.json; do
	[ -f "$f" ] || continue
	python3 - "$f" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c["result"] not in ("pass", "skip", "control-detected"):
        print(f"soak: {sys.argv[1].rsplit('/', 1)[1]}: {c['id']}: {c['result']}/{c['status']}: "
              f"{c['diagnosis'][:200]}")
PY
done
awk -F'\t' -v wall="$wall" -v want="$n" '
	{ runs++; cases += $3; pass += $4; fails += $5; errors += $6; skips += $7; missed += $9
	  bad += $2 != 0 }
	END {
		printf "soak: %d of %d runs, %d cases (%d pass, %d skip), %d false FAILs, %d errors, %d controls missed, %d runs not exit 0, %d s wall\n",
			runs, want, cases, pass, skips, fails, errors, missed, bad, wall
		exit (bad || runs < want) ? 1 : 0
	}' "$out/soak.tsv"
