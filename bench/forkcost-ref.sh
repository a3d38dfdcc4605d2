#!/bin/bash
# bench/forkcost-ref.sh: `forkpin forkcost`'s pinned curves, on 4 KiB pages and on THPs, against
# a plain reference program (bench/bare_forkcost.c: map, fault in, io_uring-register, time
# fork()) measured in the same run, point by point (reference, forkcost, reference: the mean of
# the two references), on the same page size as the curve.
#   bench/forkcost-ref.sh [BUILD_DIR] [MAX_MIB] [REPEAT]     (default build/, 512, 3)
# Sizes double from 64 MiB. Target (issue 15): every point within 1.2x of its reference (the
# ratio forkcost / reference between 1/1.2 and 1.2). The last line sums it up:
#   forkcost-ref: N of M points within 1.2x (worst ratio R)
# Exit 0 all within, 1 some not, 4 nothing could be measured (no io_uring, no THP).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
max=${2:-512}
repeat=${3:-3}
ref=$build/bench/bare_forkcost
[ -x "$ref" ] || {
	echo "forkcost-ref: $ref missing: build with liburing (setup/build)" >&2
	exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '# kernel %s, %s cores, load %s, median of %s forks per point\n' "$(uname -r)" \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$repeat"
printf '%-8s %9s %13s %13s %7s %s\n' pages size forkcost_ms reference_ms ratio within
size=64
while [ "$size" -le "$max" ]; do
	for pages in 4k thp; do
		mode=pinned
		[ "$pages" = thp ] && mode=thp-pinned
		# reference, forkcost, reference: the mean of the two references brackets the
		# forkcost point in time, so a machine whose speed drifts does not skew the ratio
		r1=$("$ref" "$size" "$pages" "$repeat" 2>/dev/null)
		"$build/forkpin" forkcost --mode "$mode" -b iouring --min-size "${size}M" \
			--max-size "${size}M" --repeat "$repeat" --json "$tmp/fc.json" >/dev/null 2>&1
		fc=$(python3 -c 'import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"]
        if r["mode"] == sys.argv[2] and r["status"] == "ok"]
print(rows[0]["fork_ms"] if rows else "")' "$tmp/fc.json" "$mode" 2>/dev/null)
		r2=$("$ref" "$size" "$pages" "$repeat" 2>/dev/null)
		rf=$([ -n "$r1" ] && [ -n "$r2" ] && awk -v a="$r1" -v b="$r2" 'BEGIN { print (a + b) / 2 }')
		if [ -z "$fc" ] || [ -z "$rf" ]; then
			printf '%-8s %6s MiB %13s %13s %7s %s\n' "$pages" "$size" "${fc:--}" \
				"${rf:--}" - "not measured"
			continue
		fi
		awk -v p="$pages" -v s="$size" -v a="$fc" -v b="$rf" 'BEGIN {
			r = a / b; ok = (r <= 1.2 && r >= 1 / 1.2) ? "yes" : "no"
			printf "%-8s %6s MiB %13.1f %13.1f %7.2f %s\n", p, s, a, b, r, ok }'
	done
	size=$((size * 2))
done | tee "$tmp/table"
awk '$NF == "yes" || $NF == "no" { n++; if ($NF == "yes") y++; r = $(NF - 1)
	d = r > 1 ? r : 1 / r; if (d > w) { w = d; wr = r } }
	END { if (!n) { print "forkcost-ref: nothing measured"; exit 4 }
	printf "forkcost-ref: %d of %d points within 1.2x (worst ratio %.2f)\n", y, n, wr
	exit y == n ? 0 : 1 }' "$tmp/table"
