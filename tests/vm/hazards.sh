#!/bin/bash
# tests/vm/hazards.sh: issue 12's hazard scenarios on a kernel that must pass them and on one
# that must fail them, one short boot each (a 64 MiB zram swap in the guest for the pageout
# shapes). Builds or reuses `stock` and `no-early-cow` (setup/kernel/build) and checks:
#   stock:        every case passes; threaded-fork-register and pageout-before-pin(-ro) ran
#                 (not SKIP) on io_uring (R/W) and guptest-fast (R/O pins through GUP-fast);
#   no-early-cow: forkpin exits 1; threaded-fork-register fails on every memory type (its
#                 held round has the registration live over the fork, so the mutant shows
#                 whatever the timing of the free rounds), and so does pageout-before-pin
#                 (the pages the pin swapped in are shared at fork); pin-after-fork and
#                 reprotect, which do not depend on early COW, still pass.
# Debian 11's 5.10 (the real kernel that must fail them) is in tests/vm/old-kernels.sh.
# Prints TAP; 77 (skip) without QEMU or the kernel build packages.
# usage: tests/vm/hazards.sh [FORKPIN]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
fp=$(realpath "${1:-${FORKPIN_BUILD:-$top/build}/forkpin}")
. "$top/tests/lib.sh"

skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-hazards.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

declare -A image
build_kernels stock no-early-cow

# shellcheck disable=SC2054 # the commas are forkpin's list syntax
sel=(-b iouring,guptest-fast -m anon,thp-pmd,hugetlb-2m
	-s threaded-fork,threaded-fork-register,pageout,pageout-before-pin,pageout-before-pin-ro,pin-after-fork,pin-after-fork-ro,reprotect,wipeonfork)

# run_on KERNEL: the slice in one boot (a guest that does not finish is a failure with
# setup/vm/run's reason, never booted again); TAP in $out, the exit status returned.
run_on() {
	local st
	"$top/setup/vm/run" --timeout "${FORKPIN_KERNELS_VM_TIMEOUT:-900}" \
		--kernel "${image[$1]}" -- "$top/setup/kernel/guest-forkpin" --swap "$fp" \
		"${sel[@]}" --timeout 30 >"$tmp/$1.tap" 2>"$tmp/$1.err"
	st=$?
	[ "$st" != 3 ] || echo "# $1: the guest did not finish: $(tail -n 1 "$tmp/$1.err")"
	out=$(cat "$tmp/$1.tap")
	return "$st"
}
tap_line() { # tap_line ID: the TAP line of case ID in $out
	printf '%s\n' "$out" | grep -E "^(not )?ok [0-9]+ $1( |$)" | head -n 1
}
expect_case() { # expect_case ID REGEX DESCRIPTION
	local line
	line=$(tap_line "$1")
	if [[ $line =~ $2 ]]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "# got: ${line:-(no such case)}"
	fi
}
PASSED='^ok [0-9]+ [^ ]+( # [0-9]+ of [0-9]+ .*)?$' # a pass, its note allowed; not a SKIP

start=$(date +%s)
run_on stock
rc=$?
ok "$([ $rc = 0 ] && echo 0 || echo 1)" "stock: every hazard case passes (exit $rc)"
[ $rc = 0 ] || grep -E '^not ok' "$tmp/stock.tap" | head -n 10 | sed 's/^/# /'
contains "# swap: 64 MiB zram" "stock: the guest has its zram swap"
for id in iouring/anon/threaded-fork-register iouring/thp-pmd/threaded-fork-register \
	iouring/hugetlb-2m/threaded-fork-register guptest-fast/anon/threaded-fork-register \
	iouring/anon/pageout-before-pin guptest-fast/anon/pageout-before-pin-ro; do
	expect_case "$id" "$PASSED" "stock: $id ran and passed"
done

run_on no-early-cow
rc=$?
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "no-early-cow: forkpin exits 1 (exit $rc)"
contains "-forkpin-no-early-cow" "no-early-cow: the guest runs the mutant"
for m in anon thp-pmd hugetlb-2m; do
	expect_case "iouring/$m/threaded-fork-register" \
		'^not ok .*(device data leaked into the child|no longer maps)' \
		"no-early-cow: iouring/$m/threaded-fork-register FAILs (leak into the child or lost DMA)"
done
expect_case guptest-fast/anon/threaded-fork-register '^not ok .*stale' \
	"no-early-cow: guptest-fast/anon/threaded-fork-register FAILs as a stale read"
expect_case iouring/anon/pageout-before-pin '^not ok .*no longer maps' \
	"no-early-cow: iouring/anon/pageout-before-pin FAILs as lost DMA"
expect_case guptest-fast/anon/pageout-before-pin-ro '^not ok .*stale' \
	"no-early-cow: guptest-fast/anon/pageout-before-pin-ro FAILs as a stale read"
for id in iouring/anon/pin-after-fork iouring/anon/reprotect; do
	expect_case "$id" '^ok [0-9]+ [^ ]+$' "no-early-cow: $id (no early COW involved) passes"
done
echo "# both boots in $(($(date +%s) - start)) s"
tap_done
