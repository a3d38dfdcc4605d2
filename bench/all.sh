#!/bin/bash
# bench/all.sh: run every benchmark under bench/ and print one table: benchmark, figure,
# target, met (yes / no / - where the benchmark has no target).
#   bench/all.sh [--vm] [--kernel] [--quick] [--build DIR] [--log DIR]
# By default only the host benchmarks run (~2-4 min on 2 cores). --vm adds those that boot the
# test VM (setup/vm/run; ~20 min), --kernel those that build kernels (kernel-build.sh, and
# race.sh, which runs a race mutant in the VM; ~1 h cold). Each benchmark's own output goes to
# the log directory (default: a temporary one, kept and named at the end). --quick: small sizes
# and few repetitions (~1 min), to check the benchmarks run, not to quote.
# Exit 0 when every target with a figure was met, 1 otherwise.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build vm=0 kernel=0 log= quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--vm) vm=1 ;;
	--kernel) kernel=1 ;;
	--quick) quick=1 ;;
	--build) build=${2:?--build DIR}; shift ;;
	--log) log=${2:?--log DIR}; shift ;;
	-h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bench/all.sh: unknown argument '$1': see bench/all.sh --help" >&2; exit 2 ;;
	esac
	shift
done
[ -x "$build/forkpin" ] || {
	echo "bench/all.sh: $build/forkpin missing: build first (setup/build)" >&2
	exit 2
}
log=${log:-$(mktemp -d /tmp/forkpin-bench-all.XXXXXX)}
mkdir -p "$log"
rows=$log/rows
: >"$rows"
bad=0
# sizes: host-cases N and rounds, host-run runs, stress seconds, forkcost MiB, forkcost repeat
if [ "$quick" = 1 ]; then
	n=50 rounds=1 runs=1 secs=2 mib=64 rep=1
else
	n=1000 rounds=5 runs=3 secs=5 mib=512 rep=5
fi

# row BENCHMARK FIGURE TARGET MET
row() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$rows"
	[ "$4" = no ] && bad=1
	printf 'bench/all.sh: %s: %s (%s) %s\n' "$1" "$2" "$3" "$4" >&2
}
# run NAME COMMAND...: the command's output into $log/NAME.log
run() {
	local name=$1
	shift
	echo "bench/all.sh: running $name" >&2
	"$@" >"$log/$name.log" 2>&1
}
# met VALUE OP LIMIT: yes/no, or - when VALUE is empty
met() {
	[ -n "$1" ] || { echo -; return; }
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = op == "<=" ? v <= l : op == "<" ? v < l : v >= l
		print ok ? "yes" : "no" }'
}

run host-cases "$top/bench/host-cases.sh" "$build" "$n" "$rounds"
ov=$(sed -n 's/^harness overhead.* \(-\{0,1\}[0-9.]*\) %$/\1/p' "$log/host-cases.log")
ovr=$(sed -n 's/^overhead per round: *//p' "$log/host-cases.log")
row host-cases.sh "harness overhead ${ov:-?} % (median of rounds: ${ovr:-?})" "<= 50 %" \
	"$(met "$ov" '<=' 50)"
mx=$(sed -n 's/^whole host matrix *\([0-9.]*\) s.*/\1/p' "$log/host-cases.log")
row host-cases.sh "host matrix (-b iouring,vmsplice) ${mx:-?} s" "< 2 s" "$(met "$mx" '<' 2)"

run host-run "$top/bench/host-run.sh" "$build" "$runs"
hr=$(sed -n 's/^host-run: median \([0-9.]*\) s.*/\1/p' "$log/host-run.log")
row host-run.sh "whole host forkpin run ${hr:-?} s (median of $runs)" "< 5 s" "$(met "$hr" '<' 5)"

run stress "$top/bench/stress.sh" "$build" "$secs" 2
st=$(awk '/^iouring/ { on = 1 } on && /iterations/ { for (i = 1; i <= NF; i++)
	if ($i == "bare" && $(i + 1) == "fork+wait") { print $(i + 2); exit } }' "$log/stress.log")
row stress.sh "iouring iterations / bare fork+wait ${st:-?}" ">= 0.5" "$(met "$st" '>=' 0.5)"

run forkcost-ref "$top/bench/forkcost-ref.sh" "$build" "$mib" "$rep"
fr=$(sed -n 's/^forkcost-ref: \(.*\)/\1/p' "$log/forkcost-ref.log")
frm=-
case $fr in
*" of "*) n1=${fr%% of *} rest=${fr#* of } && frm=$([ "$n1" = "${rest%% *}" ] && echo yes || echo no) ;;
esac
row forkcost-ref.sh "forkcost vs plain reference: ${fr:-not measured}" "each point within 1.2x" "$frm"

run forkcost "$top/bench/forkcost.sh" "$build" "$log/forkcost" "${mib}M" "$rep"
points() { grep -cE "^iouring/$1 +[^ ]+ +[0-9]+ MiB +[0-9]" "$log/forkcost.log"; }
row forkcost.sh "pinned curves: $(points pinned) points on 4k pages, $(points thp-pinned) on THP" "-" -

if [ "$vm" = 1 ]; then
	run ofi-cases "$top/bench/ofi-cases.sh"
	v=$(awk '$1 == "verbs" && $2 ~ /^[0-9]+$/ { print $4; exit }' "$log/ofi-cases.log")
	o=$(awk '$1 == "ofi" && $2 ~ /^[0-9]+$/ { print $4; exit }' "$log/ofi-cases.log")
	r=$([ -n "$v" ] && [ -n "$o" ] && awk -v o="$o" -v v="$v" 'BEGIN { printf "%.2f", o / v }')
	row ofi-cases.sh "ofi ${o:-?} cases/s, verbs ${v:-?} cases/s: ratio ${r:-?}" \
		">= 0.5 (within 2x of verbs)" "$(met "$r" '>=' 0.5)"
	run verbs-cases "$top/bench/verbs-cases.sh" --repeat 2
	v=$(awk '$1 == "default" { print $4; exit }' "$log/verbs-cases.log")
	row verbs-cases.sh "verbs ${v:-?} cases/s in the VM" "-" -
	run vfio-cases "$top/bench/vfio-cases.sh" -j 4
	v=$(sed -n 's/^--- speed-up *\([0-9.]*\)x.*/\1/p' "$log/vfio-cases.log")
	s=$(grep -c '^reports  *identical' "$log/vfio-cases.log")
	row vfio-cases.sh "vfio row -j 4 --edu 4 against -j 1: ${v:-?}x, reports identical: $s" \
		">= 3x, identical" "$([ "$s" = 1 ] && met "$v" '>=' 3 || echo no)"
	run vm-run "$top/bench/vm-run.sh"
	v=$(sed -n 's/^vm-run: \([0-9.]*\) s wall.*/\1/p' "$log/vm-run.log")
	row vm-run.sh "forkpin vm, whole selection on 6.12: ${v:-?} s" "< 180 s" "$(met "$v" '<=' 180)"
	run vm-boot "$top/bench/vm-boot.sh" 2
	v=$(tail -n 1 "$log/vm-boot.log")
	row vm-boot.sh "last run: ${v:-?}" "-" -
fi
if [ "$kernel" = 1 ]; then
	run kernel-build "$top/bench/kernel-build.sh"
	row kernel-build.sh "$(tail -n 2 "$log/kernel-build.log" | tr -s ' \n' ' ')" "-" -
	run race "$top/bench/race.sh" 1
	row race.sh "$(tail -n 1 "$log/race.log" | cut -c1-100)" "-" -
fi

printf '\n# bench/all.sh: kernel %s, %s cores, load now %s; logs in %s\n' "$(uname -r)" \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$log"
awk -F'\t' 'BEGIN { printf "%-16s | %-70s | %-26s | %s\n", "benchmark", "figure", "target", "met"
	printf "%s\n", "-----------------+------------------------------------------------------------------------+----------------------------+----" }
	{ printf "%-16s | %-70s | %-26s | %s\n", $1, $2, $3, $4 }' "$rows"
exit $bad
