#!/bin/bash
# tests/vm/kernels.sh: the proof that forkpin catches the bug. Builds (or reuses from the
# cache) the custom `stock` kernel and the `no-early-cow` mutant (setup/kernel/build), runs a
# slice of the matrix on each in the test VM, and checks:
#   stock:        everything passes, controls detected, iommufd and gup_test cases ran;
#   no-early-cow: forkpin exits 1; every pinning backend loses DMA on private memory
#                 ("device wrote into a page the parent no longer maps"; gup_test: "device
#                 read stale data"); shared memory still passes; the controls still fire.
#   ro-pin-no-unshare: read-only pins taken on a page shared with a child (now or before)
#                 read stale data; read-write registrations still pass.
#   anon-reuse-refcount: 5.10's write-fault reuse by refcount on 6.12: mprotect and uffd-wp
#                 write-protect-and-back lose DMA (with no fork), on mTHP too.
#   can-follow-write: a R/W pin that skips the COW break: R/W pin-after-fork loses DMA.
# The race stressor against gup-fast-race-wide is a benchmark (bench/race.sh), not a test:
# its time to the first failure varies from run to run.
# A cold cache builds the kernel first (~10 min with 2 idle CPUs, more on a busy machine).
# Prints TAP; 77 (skip) without QEMU or the kernel build packages.
# usage: tests/vm/kernels.sh [FORKPIN]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
fp=${1:-${FORKPIN_BUILD:-$top/build}/forkpin}
. "$top/tests/lib.sh"

skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-kernels.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

declare -A image
build_kernels stock no-early-cow ro-pin-no-unshare anon-reuse-refcount can-follow-write

# The slice: every backend that moves data through pins without libfabric (the ofi rows add
# ~1 s of libfabric start-up per case and prove nothing more about the kernel), private base
# pages + THP + hugetlb and one shared type, the scenarios where the parent writes after fork
# or a child stays alive, plus the controls.
# shellcheck disable=SC2054 # the commas are forkpin's list syntax
sel=(-b iouring,verbs,verbs-odp,vfio,vfio-type1,vfio-iommufd,guptest,guptest-fast,vmsplice
	-m anon,thp-pmd,hugetlb-2m,memfd
	-s child-writes,parent-writes,child-alive,device-reads,device-reads-ro,control-dontneed)

# run_on KERNEL: the slice in the VM; TAP in $tmp/KERNEL.tap, report in $tmp/KERNEL/.
# vm_run NAME ARGS...: setup/vm/run ARGS with stdout in $tmp/NAME.tap and stderr in
# $tmp/NAME.err, one boot. Returns the run's exit status; a guest that did not finish (exit
# 3) is a failure, its reason printed.
vm_run() {
	local name=$1 st
	shift
	"$top/setup/vm/run" "$@" >"$tmp/$name.tap" 2>"$tmp/$name.err"
	st=$?
	[ "$st" != 3 ] || echo "# $name: the guest did not finish: $(tail -n 1 "$tmp/$name.err")"
	return "$st"
}

run_on() {
	mkdir -p "$tmp/$1"
	vm_run "$1" --timeout "${FORKPIN_KERNELS_VM_TIMEOUT:-1200}" --kernel "${image[$1]}" \
		--out "$tmp/$1" -- "$top/setup/kernel/guest-forkpin" "$fp" "${sel[@]}" --timeout 30
}

# tap_line ID: the TAP line of case ID in $out.
tap_line() {
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

run_on stock
rc=$?
out=$(cat "$tmp/stock.tap")
ok "$([ $rc = 0 ] && echo 0 || echo 1)" "stock: forkpin passes everything (exit $rc)"
[ $rc = 0 ] || { grep -E '^not ok' "$tmp/stock.tap" | head -n 10 | sed 's/^/# /'; tail -n 3 "$tmp/stock.err" | sed 's/^/# /'; }
contains "# guest kernel: 6.12" "stock: the guest runs the custom kernel"
for id in vfio-iommufd/anon/parent-writes guptest/anon/device-reads-ro \
	guptest-fast/anon/device-reads-ro iouring/thp-pmd/parent-writes vfio/hugetlb-2m/child-alive; do
	expect_case "$id" '^ok [0-9]+ [^ ]+$' "stock: $id ran and passed"
done

run_on no-early-cow
rc=$?
out=$(cat "$tmp/no-early-cow.tap")
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "no-early-cow: forkpin exits 1 (exit $rc)"
contains "-forkpin-no-early-cow," "no-early-cow: the guest runs the mutant"
for b in iouring verbs vfio vfio-iommufd; do
	for m in anon thp-pmd hugetlb-2m; do
		expect_case "$b/$m/parent-writes" '^not ok .*no longer maps' \
			"no-early-cow: $b/$m/parent-writes FAILs as lost DMA"
	done
	expect_case "$b/anon/child-alive" '^not ok ' "no-early-cow: $b/anon/child-alive FAILs"
	expect_case "$b/memfd/parent-writes" '^ok [0-9]+ [^ ]+$' \
		"no-early-cow: $b/memfd/parent-writes (shared) still passes"
	expect_case "$b/anon/control-dontneed" '^ok .*control detected' \
		"no-early-cow: $b/anon/control-dontneed still detected"
done
expect_case guptest/anon/device-reads '^not ok .*stale' \
	"no-early-cow: guptest/anon/device-reads FAILs as a stale read"
for b in guptest guptest-fast; do
	expect_case $b/anon/device-reads-ro '^not ok .*stale' \
		"no-early-cow: $b/anon/device-reads-ro FAILs as a stale read"
done

# The stressor's children check their own copy: on no-early-cow the device's data shows up
# in a child's private page after fork.
vm_run stress-nec --timeout 300 --kernel "${image[no-early-cow]}" -- \
	"$fp" stress -b iouring --duration 5 --threads 2
rc=$?
out=$(cat "$tmp/stress-nec.tap")
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "no-early-cow: forkpin stress exits 1 (exit $rc)"
contains "a forked child at" "no-early-cow: a stress child sees its copy change after fork"
contains "device data leaked into the child" "no-early-cow: ... diagnosed as a leak into the child"

# iommufd-mock needs a guest without a vIOMMU (IOMMUFD_TEST's mock domain): one short boot
# per kernel with the page-frame-level backend alone.
mock_on() { # mock_on KERNEL: TAP in $tmp/mock-KERNEL.tap, exit status returned
	vm_run "mock-$1" --timeout 600 --iommu none --kernel "${image[$1]}" -- \
		"$top/setup/kernel/guest-forkpin" "$fp" -b iommufd-mock -m anon,thp-pmd,memfd \
		-s parent-writes,control-dontneed --timeout 30
}
mock_on stock
rc=$?
out=$(cat "$tmp/mock-stock.tap")
ok "$([ $rc = 0 ] && echo 0 || echo 1)" "stock, no vIOMMU: iommufd-mock passes (exit $rc)"
expect_case iommufd-mock/anon/parent-writes '^ok [0-9]+ [^ ]+$' \
	"stock: iommufd-mock/anon/parent-writes ran and passed"
mock_on no-early-cow
rc=$?
out=$(cat "$tmp/mock-no-early-cow.tap")
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "no-early-cow, no vIOMMU: iommufd-mock exits 1 (exit $rc)"
for m in anon thp-pmd; do
	expect_case "iommufd-mock/$m/parent-writes" '^not ok .*no longer maps' \
		"no-early-cow: iommufd-mock/$m/parent-writes FAILs as lost DMA"
done
expect_case iommufd-mock/memfd/parent-writes '^ok [0-9]+ [^ ]+$' \
	"no-early-cow: iommufd-mock/memfd/parent-writes (shared) still passes"
expect_case iommufd-mock/anon/control-dontneed '^ok .*control detected' \
	"no-early-cow: iommufd-mock/anon/control-dontneed still detected"

# ro-pin-no-unshare: R/O registrations of COW-shared pages (vfio maps without WRITE, verbs
# MRs without local write, gup_test without FOLL_WRITE) must read stale data; R/W ones pass.
mkdir -p "$tmp/ro"
vm_run ro --timeout "${FORKPIN_KERNELS_VM_TIMEOUT:-1200}" --kernel "${image[ro-pin-no-unshare]}" \
	--out "$tmp/ro" -- "$top/setup/kernel/guest-forkpin" "$fp" -b vfio,verbs,guptest \
	-m anon,thp-pmd -s pin-after-fork,pin-after-fork-ro,pin-previously-shared-ro --timeout 30
rc=$?
out=$(cat "$tmp/ro.tap")
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "ro-pin-no-unshare: forkpin exits 1 (exit $rc)"
for b in vfio verbs guptest; do
	for s in pin-after-fork-ro pin-previously-shared-ro; do
		expect_case "$b/anon/$s" '^not ok .*stale' \
			"ro-pin-no-unshare: $b/anon/$s FAILs as a stale read"
	done
done
for b in vfio verbs; do
	expect_case "$b/anon/pin-after-fork" '^ok [0-9]+ [^ ]+$' \
		"ro-pin-no-unshare: $b/anon/pin-after-fork (read-write) still passes"
done

# The hazard mutants: one short boot each with the scenarios the mutant must fail, on the
# memory types that show it, and the shapes it must leave alone.
mutant_on() { # mutant_on KERNEL SELECTION...: TAP in $out, exit status returned
	local k=$1
	shift
	mkdir -p "$tmp/$k"
	vm_run "$k" --timeout "${FORKPIN_KERNELS_VM_TIMEOUT:-1200}" --kernel "${image[$k]}" \
		--out "$tmp/$k" -- "$top/setup/kernel/guest-forkpin" "$fp" "$@" --timeout 30
	local st=$?
	out=$(cat "$tmp/$k.tap")
	return "$st"
}
mutant_on anon-reuse-refcount --mthp 64 -b iouring,guptest -m anon,thp-pte,thp-pmd,mthp-64k \
	-s reprotect,reprotect-uffd-wp,reprotect-softdirty
rc=$?
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "anon-reuse-refcount: forkpin exits 1 (exit $rc)"
for m in anon thp-pte mthp-64k; do
	for s in reprotect reprotect-uffd-wp; do
		expect_case "iouring/$m/$s" '^not ok .*no longer maps' \
			"anon-reuse-refcount: iouring/$m/$s FAILs as lost DMA"
	done
	expect_case "guptest/$m/reprotect" '^not ok .*stale' \
		"anon-reuse-refcount: guptest/$m/reprotect FAILs as a stale read"
	expect_case "iouring/$m/reprotect-softdirty" '^ok [0-9]+ [^ ]+$' \
		"anon-reuse-refcount: iouring/$m/reprotect-softdirty passes (clear_refs spares pins)"
done
expect_case iouring/thp-pmd/reprotect '^ok [0-9]+ [^ ]+$' \
	"anon-reuse-refcount: iouring/thp-pmd/reprotect passes (huge PMDs reuse by mapcount)"

mutant_on can-follow-write -b iouring,guptest -m anon,thp-pmd,hugetlb-2m \
	-s pin-after-fork,pin-previously-shared,pin-after-fork-ro,parent-writes
rc=$?
ok "$([ $rc = 1 ] && echo 0 || echo 1)" "can-follow-write: forkpin exits 1 (exit $rc)"
for m in anon thp-pmd hugetlb-2m; do
	expect_case "iouring/$m/pin-after-fork" '^not ok .*no longer maps' \
		"can-follow-write: iouring/$m/pin-after-fork FAILs as lost DMA"
	expect_case "iouring/$m/parent-writes" '^ok [0-9]+ [^ ]+$' \
		"can-follow-write: iouring/$m/parent-writes (pinned before fork) still passes"
done
expect_case iouring/anon/pin-previously-shared '^not ok .*no longer maps' \
	"can-follow-write: iouring/anon/pin-previously-shared FAILs as lost DMA"
expect_case guptest/anon/pin-after-fork-ro '^ok [0-9]+ [^ ]+$' \
	"can-follow-write: guptest/anon/pin-after-fork-ro (no FOLL_WRITE) still passes"

tap_done
