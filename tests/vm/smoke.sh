#!/bin/bash
# tests/vm/smoke.sh: boot the test VM once and check what forkpin's backends rely on:
# rxe0 is PORT_ACTIVE, the edu device is bound to vfio-pci, its /dev/vfio/<group> opens and
# is viable, hugetlb pages are reserved, RLIMIT_MEMLOCK is unlimited, the kernel says
# copy-on-fork. Prints TAP; exit 0/1, 77 (skip) if QEMU is not installed.
# Extra arguments go to setup/vm/run (e.g. --kernel-release 6.12).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
skip_without_qemu

# The guest sees the host root read-only, /tmp included: build the checker here first.
tmp=$(mktemp -d /tmp/forkpin-smoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if ! cc -O2 -Wall -o "$tmp/vfio_open" "$top/tests/vm/vfio_open.c"; then
	echo "1..1"
	echo "not ok 1 - build tests/vm/vfio_open.c"
	exit 1
fi

# The guest script prints its own TAP; the host only checks the plan was complete.
guest_script='
n=0 failed=0
check() {
	desc=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		printf "%s\n" "$out" | sed "s/^/# /"
		failed=1
	fi
}
echo "1..6"
check "rxe0 is PORT_ACTIVE" sh -c "ibv_devinfo -d rxe0 | grep -q PORT_ACTIVE"
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && edu=${d##*/}
done
check "edu device ${edu:-(absent)} is bound to vfio-pci" \
	sh -c "[ -n \"$edu\" ] && [ \"\$(basename \"\$(readlink /sys/bus/pci/devices/$edu/driver)\")\" = vfio-pci ]"
group=$(basename "$(readlink /sys/bus/pci/devices/$edu/iommu_group 2>/dev/null)")
check "/dev/vfio/$group opens, is viable and takes a type1v2 container" "$VFIO_OPEN" "/dev/vfio/$group"
check "64 hugetlb pages are reserved (four 16-page shares, setup/vm/guest-setup)" sh -c "[ \"\$(cat /proc/sys/vm/nr_hugepages)\" = 64 ]"
check "RLIMIT_MEMLOCK is unlimited" sh -c "[ \"\$(ulimit -l)\" = unlimited ]"
check "the kernel reports copy-on-fork" sh -c "rdma sys | grep -q \"copy-on-fork on\""
exit $failed
'
"$top/setup/vm/run" "$@" -- env VFIO_OPEN="$tmp/vfio_open" \
	sh -c "$guest_script" >"$tmp/tap"
st=$?
cat "$tmp/tap"
if [ "$st" != 0 ]; then
	exit 1
fi
# A guest that printed nothing must not pass.
[ "$(grep -c '^ok ' "$tmp/tap")" = 6 ] || {
	echo "# expected 6 passing checks from the guest"
	exit 1
}
exit 0
