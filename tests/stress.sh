#!/bin/bash
# forkpin stress and forkcost: a short run has power, a broken registration is caught with
# the cases' diagnosis, SIGINT leaves a partial report, forkcost's outputs have their shape.
# usage: tests/stress.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# json FILE PYTHON-EXPRESSION: is the expression (over the parsed file `d`) true?
json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2"
}

expect_exit 2 "stress: bad thread count" -- "$fp" stress --threads 0
contains "--threads '0'" "the bad value is named"
expect_exit 2 "stress: unknown backend" -- "$fp" stress --backend nosuch
expect_exit 2 "stress: a backend that does not pin" -- "$fp" stress --backend vmsplice
contains "cannot be stressed" "the reason is named"
expect_exit 2 "stress: unknown injection" -- "$fp" stress --inject frob
expect_exit 2 "stress: unwritable JSON" -- "$fp" stress --json /nonexistent/dir/s.json

"$fp" stress --duration 2 --json "$tmp/s.json" >"$tmp/s.out" 2>&1
rc=$?
if [ $rc -eq 4 ]; then
	echo "ok $((tap_n + 1)) - # SKIP no pinning backend here: $(head -1 "$tmp/s.out")"
	tap_n=$((tap_n + 1))
else
	ok $rc "a 2 s stress run passes (exit $rc)"
	[ $rc -eq 0 ] || head -5 "$tmp/s.out" | sed 's/^/# /'
	ok "$(json "$tmp/s.json" 'd["backends"][0]["result"] == "pass"'; echo $?)" "result pass"
	ok "$(json "$tmp/s.json" 'all(b["iterations"] > 0 and b["forks"] > 0 and
		b["overlaps"] > 0 for b in d["backends"] if b["result"] != "skip")'; echo $?)" \
		"iterations, forks and overlapping registrations are counted"
	ok "$(json "$tmp/s.json" 'all(b["overlaps_per_s"] > 0 and b["iterations_per_s"] > 0
		for b in d["backends"] if b["result"] != "skip")'; echo $?)" "rates reported"

	# A real kernel-level breakage every 4th iteration: MADV_DONTNEED after registering.
	expect_exit 1 "an injected breakage fails the run" -- "$fp" stress --iterations 40 \
		--inject dontneed:4 --threads 1 --json "$tmp/i.json"
	contains "device wrote into a page the parent no longer maps" "stdout has the diagnosis"
	ok "$(json "$tmp/i.json" 'd["backends"][0]["result"] == "fail" and
		d["backends"][0]["failures"] == 10 and d["backends"][0]["iterations"] == 40'; echo $?)" \
		"every injected iteration fails, no other one"
	ok "$(json "$tmp/i.json" '[f["iteration"] == 3 and f["injected"] and f["elapsed_s"] >= 0 and
		f["diagnosis"].endswith("device wrote into a page the parent no longer maps")
		for f in d["backends"][0]["failure_log"][:1]] == [True]';
		echo $?)" "the failure names its iteration, time and diagnosis"

	# SIGINT: a clean stop with a partial report that says it is incomplete; never exit 0.
	"$fp" stress --duration 60 --json "$tmp/int.json" >/dev/null 2>&1 &
	pid=$!
	sleep 1
	kill -INT $pid
	wait $pid
	rc=$?
	ok "$([ "$rc" = 130 ] && echo 0 || echo 1)" "SIGINT stops the run as incomplete (exit $rc, want 130)"
	ok "$(json "$tmp/int.json" 'd["backends"][0]["interrupted"] and
		d["backends"][0]["elapsed_s"] < 30 and d["complete"] is False and
		d["interrupted"] == "SIGINT"'; echo $?)" "the report says interrupted and incomplete"
fi

# forkcost: the table, CSV and JSON shapes on tiny sizes (no timing assertions).
expect_exit 2 "forkcost: bad plot file type" -- "$fp" forkcost --plot "$tmp/p.txt"
expect_exit 2 "forkcost: unknown mode" -- "$fp" forkcost --mode frob
expect_exit 2 "forkcost: --json and --csv naming one file" -- "$fp" forkcost --json "$tmp/same" \
	--csv "$tmp/./same"
ok "$([ ! -e "$tmp/same" ] && echo 0 || echo 1)" "forkcost: and nothing was written"
"$fp" forkcost --min-size 1M --max-size 2M --repeat 1 --csv "$tmp/f.csv" \
	--json "$tmp/f.json" --plot "$tmp/f.svg" >"$tmp/f.out" 2>&1
rc=$?
ok $([ $rc -eq 0 ] || [ $rc -eq 4 ]; echo $?) "forkcost runs (exit $rc)"
[ $rc -le 1 ] || head -5 "$tmp/f.out" | sed 's/^/# /'
out=$(cat "$tmp/f.out")
contains "fork_ms" "the table has its header"
contains "unpinned" "the table has the unpinned rows"
ok "$(head -1 "$tmp/f.csv" | grep -q '^mode,backend,size_bytes,status,fork_ms,'; echo $?)" \
	"CSV header"
ok "$([ "$(sed 1d "$tmp/f.csv" | wc -l)" -eq "$(json "$tmp/f.json" 'True' &&
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' \
		"$tmp/f.json")" ]; echo $?)" "CSV and JSON have the same rows"
ok "$(json "$tmp/f.json" 'd["memcpy_gib_s"] > 0 and all(set(r) >= {"mode", "backend",
	"size_bytes", "status", "fork_ms", "extra_ms", "child_private_bytes",
	"memfree_drop_bytes", "copy_gib_s", "ratio_to_memcpy"} for r in d["rows"])'; echo $?)" \
	"JSON rows have every field"
ok "$(json "$tmp/f.json" 'all(r["status"] != "ok" or r["fork_ms"] > 0 for r in d["rows"])
	and sorted({r["size_bytes"] for r in d["rows"] if r["mode"] == "unpinned"}) ==
	[1 << 20, 2 << 20]'; echo $?)" "sizes double from --min-size to --max-size"
ok "$(json "$tmp/f.json" 'all(r["child_private_bytes"] >= r["size_bytes"]
	for r in d["rows"] if r["mode"] == "pinned" and r["status"] == "ok")'; echo $?)" \
	"a pinned buffer is copied for the child (early COW)"
contains "forkcost: unpinned" "progress: one stderr line per size as it is measured"
ok "$(json "$tmp/f.json" 'all(r["page_size"] == {"thp": "2M-thp", "thp-pinned": "2M-thp",
	"hugetlb": "2M-hugetlb", "hugetlb-pinned": "2M-hugetlb"}.get(r["mode"], "4k")
	for r in d["rows"])'; echo $?)" "every row names its page size"
ok "$(json "$tmp/f.json" 'all(r["child_private_bytes"] >= r["size_bytes"]
	for r in d["rows"] if r["mode"] == "thp-pinned" and r["status"] == "ok") and
	any(r["mode"] == "thp-pinned" for r in d["rows"])'; echo $?)" \
	"the THP curve is there, and a pinned THP buffer is copied for the child"
if command -v gnuplot >/dev/null; then
	ok "$([ -s "$tmp/f.svg" ]; echo $?)" "gnuplot wrote the plot"
	# One size: a log axis over one value is empty; the plot sets its range, gnuplot is quiet.
	out=$("$fp" forkcost --min-size 1M --max-size 1M --repeat 1 --mode unpinned \
		--plot "$tmp/one.svg" 2>&1 >/dev/null)
	ok "$([ -s "$tmp/one.svg" ] && grep -q '<path' "$tmp/one.svg"; echo $?)" \
		"a one-size plot is drawn"
	ok "$(case $out in *gnuplot*|*arning*) echo 1 ;; *) echo 0 ;; esac)" \
		"and gnuplot's warnings do not leak (stderr: ${out//$'\n'/ | })"
else
	ok 0 "# SKIP gnuplot not installed (setup/install-deps.sh installs gnuplot-nox)"
fi
tap_done
