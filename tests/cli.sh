#!/bin/bash
# Bad input is one line naming the fix, exit 2, and leaves nothing behind.
# usage: tests/cli.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

one_line() { ok $([ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && echo 0 || echo 1) "$1 is one line"; }

expect_exit 2 "no command" -- "$fp"
expect_exit 2 "unknown command" -- "$fp" frobnicate
contains "use list, run, env or vm (or stress, forkcost, compare, merge, peer)" "unknown command names the commands"
expect_exit 2 "unknown backend" -- "$fp" run --backend nosuch
contains "unknown backend 'nosuch'" "unknown backend is named"
one_line "unknown backend error"
expect_exit 2 "unknown memory type" -- "$fp" list --mem anon,nosuch
contains "unknown memory type 'nosuch'" "unknown memory type is named"
expect_exit 2 "unknown scenario" -- "$fp" run -s nosuch
contains "forkpin list" "the error points at forkpin list"
expect_exit 2 "pattern matching nothing" -- "$fp" run 'nosuch/*'
contains "pattern 'nosuch/*' matches no case" "the pattern is named"
one_line "pattern error"
expect_exit 2 "bad timeout" -- "$fp" run --timeout soon
contains "--timeout 'soon'" "the bad value is named"
expect_exit 2 "zero timeout" -- "$fp" run --timeout 0
expect_exit 2 "bad seed" -- "$fp" run --seed x1
expect_exit 2 "zero jobs" -- "$fp" run -j 0
contains "--jobs" "the option is named"
expect_exit 2 "more jobs than the runner holds" -- "$fp" run --jobs 65
# -j N: the same reports as one job, in the same order (the durations aside).
"$fp" run -b iouring,vmsplice -m anon,memfd --seed 5 --json "$tmp/j1.json" >"$tmp/j1.tap"
"$fp" run -b iouring,vmsplice -m anon,memfd --seed 5 -j 3 --json "$tmp/j3.json" >"$tmp/j3.tap"
ok "$(cmp -s "$tmp/j1.tap" "$tmp/j3.tap" && echo 0 || echo 1)" "-j 3 prints one job's TAP"
ok "$(python3 - "$tmp/j1.json" "$tmp/j3.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
strip = lambda r: [{k: v for k, v in c.items() if k != "duration_s"} for c in r["cases"]]
print(0 if strip(a) == strip(b) and len(a["cases"]) > 20 and b["complete"] else 1)
PY
)" "-j 3 writes one job's JSON cases, in order"
expect_exit 2 "unknown option" -- "$fp" run --frob
contains "--frob" "the unknown option is named"
expect_exit 2 "missing option value" -- "$fp" run --json
expect_exit 2 "unwritable JSON path" -- "$fp" run iouring/anon/child-writes --json /nonexistent/dir/r.json
contains "give a writable path" "the fix is named"
ok $([ ! -e /nonexistent/dir/r.json ] && echo 0 || echo 1) "nothing was written"
expect_exit 2 "unwritable JUnit path" -- "$fp" run iouring/anon/child-writes --junit "$tmp"
expect_exit 0 "list works" -- "$fp" list 'iouring/anon/*'
contains "iouring/anon/control-dontneed  (control)" "list marks controls"
expect_exit 0 "help" -- "$fp" --help
contains "Exit: 0 all passed" "help explains exit codes"

# Each command takes only its own options, and its --help lists only those.
expect_exit 2 "list refuses run's --json" -- "$fp" list --json "$tmp/l.json"
contains "--json: not an option of \`forkpin list\`" "the option and the command are named"
one_line "the refusal"
ok $([ ! -e "$tmp/l.json" ] && echo 0 || echo 1) "list wrote no JSON"
expect_exit 2 "env refuses filters" -- "$fp" env -b iouring
expect_exit 2 "env refuses patterns" -- "$fp" env 'iouring/*'
expect_exit 2 "list refuses a backend option" -- "$fp" list --vfio-device 0000:00:03.0
expect_exit 0 "run --help" -- "$fp" run --help
contains "--timeout SEC" "run's help has its options"
contains "Backend options:" "and the backends' options"
expect_exit 0 "list --help" -- "$fp" list --help
ok $(case $out in *--timeout* | *--junit* | *"Backend options"*) echo 1 ;; *) echo 0 ;; esac) \
	"list's help lists none of run's options"

# forkcost --plot: the path goes into a gnuplot script inside quotes; a quote would end them.
expect_exit 2 "forkcost refuses a plot path with a quote" -- "$fp" forkcost --min-size 1M \
	--max-size 1M --mode unpinned --plot "$tmp/x'; system 'touch $tmp/pwned'; '.svg"
contains "without quotes" "the fix is named"
ok $([ ! -e "$tmp/pwned" ] && echo 0 || echo 1) "no command ran through gnuplot"

# RLIMIT_MEMLOCK too low, without CAP_IPC_LOCK: refused up front with the fix.
if command -v setpriv >/dev/null && setpriv --inh-caps=-ipc_lock --ambient-caps=-ipc_lock \
	--bounding-set=-ipc_lock true 2>/dev/null; then
	expect_exit 2 "RLIMIT_MEMLOCK too low" -- setpriv --inh-caps=-ipc_lock \
		--bounding-set=-ipc_lock bash -c "ulimit -l 64; exec '$fp' run -b iouring -m thp-pmd"
	contains "ulimit -l" "the memlock error names ulimit -l"
	contains "pins 2 MiB" "and the size needed"
else
	echo "# setpriv cannot drop CAP_IPC_LOCK here: memlock check not exercised"
fi

# Nothing left behind: no stray processes, sysctls untouched.
before=$(cat /proc/sys/vm/nr_hugepages)
marker=$((424200000 + $$)) # a seed no other run uses, to find this run's processes
"$fp" run 'iouring/anon/*' --seed "$marker" >/dev/null 2>&1 &
runner=$!
wait $runner
sleep 0.2
strays=$(pgrep -f -- "--seed $marker" | wc -l)
ok $([ "$strays" -eq 0 ] && echo 0 || echo 1) "no forkpin processes remain after a run ($strays)"
ok $([ "$(cat /proc/sys/vm/nr_hugepages)" = "$before" ] && echo 0 || echo 1) \
	"vm.nr_hugepages unchanged by a run"

# Bounds: selections the machine cannot hold are bad usage before anything runs.
expect_exit 2 "--repeat beyond MemAvailable is refused" -- "$fp" run -b iouring --repeat 100000
contains "MemAvailable" "and the message names MemAvailable"
expect_exit 2 "forkcost --max-size beyond MemAvailable is refused" -- "$fp" forkcost --max-size 64G
contains "give a smaller --max-size" "and the message names the fix"

# A full TMPDIR: file-private SKIPs naming the cause instead of dying of SIGBUS. A 16 KiB
# tmpfs in a private mount namespace (root only).
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	mkdir -p "$tmp/full"
	out=$(unshare -m sh -c 'mount -t tmpfs -o size=16k tmpfs "$1" && TMPDIR=$1 "$2" run \
		-b iouring -m file-private -s parent-writes' sh "$tmp/full" "$fp" 2>&1)
	contains "# SKIP no room for a" "a full TMPDIR is a SKIP naming ENOSPC, not a SIGBUS FAIL"
else
	ok 0 "# SKIP the full-TMPDIR check needs root and unshare"
fi
tap_done
