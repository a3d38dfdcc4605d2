#!/bin/bash
# tests/vm/vfio.sh: run every vfio case in the test VM against its edu device
# (forkpin run --backend vfio --vfio-device <edu BDF>) and fail unless all of them pass and
# the negative controls are detected. Cases may only SKIP for memory the VM cannot provide
# (1 GiB huge pages); a skip that names VFIO, the IOMMU or the device is a failure.
# Known kernel limitations (listed in known_failure below, each with the fix commit) are
# reported but accepted on the kernels that have them.
# Prints forkpin's TAP; exit 0/1, 77 (skip) if QEMU is not installed.
# Extra arguments go to setup/vm/run (e.g. --kernel-release 6.12 --iommu virtio).
# Needs a build in build/ (meson setup build && ninja -C build); FORKPIN_BUILD overrides.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
forkpin=${FORKPIN_BUILD:-$top/build}/forkpin

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	echo "1..0 # SKIP qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	exit 77
fi
if [ ! -x "$forkpin" ]; then
	echo "Bail out! $forkpin missing: meson setup build && ninja -C build"
	exit 1
fi

# shellcheck disable=SC2016 # expanded by the guest shell
guest_script='
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && edu=${d##*/}
done
[ -n "$edu" ] || { echo "Bail out! no edu device (1234:11e8) in the VM"; exit 1; }
# virtio-iommu cannot remap interrupts on x86, and type1 refuses such an IOMMU unless told
# otherwise; a throw-away VM may allow it. intel-iommu (dmar*) has intremap=on.
case $(basename "$(readlink /sys/bus/pci/devices/$edu/iommu)") in
dmar*) ;;
*) echo 1 >/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts ;;
esac
# /tmp is an overlay without O_TMPFILE in the VM: file-private needs a tmpfs.
export TMPDIR=/dev/shm
echo "# guest kernel: $(uname -r)"
"$FORKPIN" run --backend vfio --vfio-device "$edu"
'
tap=$(mktemp /tmp/forkpin-vfio.XXXXXX)
trap 'rm -f "$tap"' EXIT
"$top/setup/vm/run" "$@" -- env FORKPIN="$forkpin" sh -c "$guest_script" | tee "$tap"
st=${PIPESTATUS[0]}

# known_failure CASE DIAGNOSIS: true when a failure is a known limitation of the guest kernel.
known_failure() {
	local major minor
	IFS=. read -r major minor _ <<<"$kernel"
	case $1 in
	# Before 6.2 a read-only FOLL_LONGTERM pin of a MAP_PRIVATE file page pins the page-cache
	# page instead of breaking COW, so the parent's later write goes to an anonymous copy the
	# device never sees. Fixed by 84209e87c696 "mm/gup: reliable R/O long-term pinning in
	# COW mappings" (6.2).
	vfio/file-private/device-reads-ro)
		((major < 6 || (major == 6 && minor < 2))) && [[ $2 == *"hold zeros"* ]] ;;
	*) false ;;
	esac
}

kernel=$(sed -n 's/^# guest kernel: //p' "$tap")
fail=0 known=0
while IFS= read -r line; do
	id=${line#not ok * }
	id=${id%% *}
	if known_failure "$id" "$line"; then
		echo "# vfio.sh: known limitation of kernel $kernel: $id" >&2
		known=$((known + 1))
	else
		fail=1
	fi
done < <(grep '^not ok ' "$tap")
if [ "$st" != 0 ] && { [ "$st" != 1 ] || [ "$fail" = 1 ] || [ "$known" = 0 ]; }; then
	echo "# vfio.sh: forkpin exited $st" >&2
	fail=1
fi
vfio_skips=$(sed -n 's/^ok [0-9]* \([^ ]*\) # SKIP \(.*\)/\1: \2/p' "$tap" |
	grep -iE ': .*(vfio|iommu|device)')
if [ -n "$vfio_skips" ]; then
	echo "# vfio.sh: cases skipped for a VFIO reason:" >&2
	printf '%s\n' "$vfio_skips" | head -3 | sed 's/^/#   /' >&2
	fail=1
fi
if ! grep -qE '^# Totals: pass:[1-9][0-9]* fail:'"$known"' .* error:0 \(controls detected:[1-9][0-9]* missed:0\)' "$tap"; then
	echo "# vfio.sh: want passes, no failures, detected controls and none missed" >&2
	fail=1
fi
exit $fail
