#!/bin/bash
# tests/vm/plumbing.sh: setup/vm/run must report what happened in the guest honestly:
# the command's exit status and TAP output, files written to $FORKPIN_VM_OUT (with --out),
# and a hung guest (exit 3 with a reason). Prints TAP; exit 0/1, 77 if QEMU is missing.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
run=$top/setup/vm/run

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
skip_without_qemu

tmp=$(mktemp -d /tmp/forkpin-plumbing.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
n=0
check() { # check DESCRIPTION CONDITION...
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=1
	fi
}
show() { # diagnostics for a failed check
	sed 's/^/# /' "$@"
}

echo "1..10"

# 1-2: a failing TAP case: exit status 1 and the line reaches the host's stdout.
"$run" -- sh -c 'echo "1..1"; echo "not ok 1 some/case/name"; exit 1' \
	>"$tmp/out1" 2>"$tmp/err1"
st=$?
check "a guest command exiting 1 makes setup/vm/run exit 1 (got $st)" [ "$st" = 1 ] ||
	show "$tmp/err1"
check "the guest's TAP line reaches the host's stdout" grep -qx 'not ok 1 some/case/name' "$tmp/out1"

# 3-5: $FORKPIN_VM_OUT comes back with --out; stderr stays stderr; exit 0 stays 0.
"$run" --out "$tmp/results" -- sh -c \
	'mkdir -p "$FORKPIN_VM_OUT/sub" && echo "<testsuites/>" >"$FORKPIN_VM_OUT/sub/report.xml" &&
	 echo to-stderr >&2' >"$tmp/out2" 2>"$tmp/err2"
st=$?
check "a guest command exiting 0 makes setup/vm/run exit 0 (got $st)" [ "$st" = 0 ] ||
	show "$tmp/err2"
check "a file written to \$FORKPIN_VM_OUT comes back with --out" \
	grep -qx '<testsuites/>' "$tmp/results/sub/report.xml"
check "guest stderr reaches the host's stderr, not its stdout" \
	eval 'grep -qx to-stderr "$tmp/err2" && ! grep -q to-stderr "$tmp/out2"'

# 6-7: a hung guest: exit 3 with a one-line reason, well before the command would end.
start=$(date +%s)
"$run" --timeout 20 -- sleep 1000 >"$tmp/out3" 2>"$tmp/err3"
st=$?
took=$(($(date +%s) - start))
check "a hung guest makes setup/vm/run exit 3 (got $st after $took s)" \
	eval '[ "$st" = 3 ] && [ "$took" -lt 45 ]' || show "$tmp/err3"
check "the hang is explained on stderr" grep -q 'guest did not finish within 20 s' "$tmp/err3"

# 8-9: a guest kernel panic: exit 3, and the reason names the panic.
"$run" -- sh -c 'echo c >/proc/sysrq-trigger; sleep 100' >"$tmp/out4" 2>"$tmp/err4"
st=$?
check "a guest kernel panic makes setup/vm/run exit 3 (got $st)" [ "$st" = 3 ] || show "$tmp/err4"
check "the panic is explained on stderr" grep -q '^vm: guest kernel panicked: Kernel panic' "$tmp/err4"
# 10: only an int3 panic before the job started is booted again (docs/vm.md); this one came
# from the job and is its result.
check "a panic the job caused is not booted again" eval '! grep -q "booting once more" "$tmp/err4"'

exit "$failed"
