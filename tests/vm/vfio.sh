#!/bin/bash
# tests/vm/vfio.sh: run every vfio case in the test VM against its edu device
# (forkpin run --backend vfio --vfio-device <edu BDF>) and fail unless all of them pass and
# the negative controls are detected. Cases may only SKIP for memory the VM cannot provide
# (1 GiB huge pages); a skip that names VFIO, the IOMMU or the device is a failure.
# Known kernel limitations (src/known_issues.c, each with its fix commit) are XFAIL in
# forkpin's own verdict on the kernels that have them, and listed here.
# Prints TAP (forkpin's own TAP as comments); exit 0/1, 77 (skip) if QEMU is not installed.
# usage: tests/vm/vfio.sh [FORKPIN] [setup/vm/run options, e.g. --kernel-release 6.12
# --iommu virtio]. FORKPIN defaults to build/forkpin (meson setup build && ninja -C build).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
forkpin=$top/build/forkpin
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	forkpin=$(realpath "$1")
	shift
fi

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
skip_without_qemu
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
echo "# guest kernel: $(uname -r)"
"$FORKPIN" run --backend vfio --vfio-device "$edu"
# vfio-iommufd with and without the per-run SKIP plan: the same TAP; where this kernel lacks
# iommufd, the planned cases cost no process (their summed case time, from the JSON reports;
# one line for the host to judge).
for how in planned unplanned; do
	plan=1
	[ $how = unplanned ] && plan=0
	FORKPIN_SKIP_PLAN=$plan "$FORKPIN" run --backend vfio-iommufd --vfio-device "$edu" \
		-m anon,memfd --json /tmp/$how.json >/tmp/$how.tap 2>&1
done
same=no
cmp -s /tmp/planned.tap /tmp/unplanned.tap && same=yes
iommufd=yes
[ -e /dev/iommu ] || iommufd=no
took() { python3 -c "import json, sys
print(\"%.3f\" % sum(c[\"duration_s\"] for c in json.load(open(sys.argv[1]))[\"cases\"]))" "$1"; }
echo "# iommufd-plan: same=$same iommufd=$iommufd" \
	"skips=$(grep -c "# SKIP open(/dev/iommu)" /tmp/planned.tap)" \
	"planned_s=$(took /tmp/planned.json) unplanned_s=$(took /tmp/unplanned.json)"
'
tap=$(mktemp /tmp/forkpin-vfio.XXXXXX)
trap 'rm -f "$tap"' EXIT
"$top/setup/vm/run" "$@" -- env FORKPIN="$forkpin" sh -c "$guest_script" >"$tap" 2>&1
st=$?
sed 's/^/# /' "$tap"

kernel=$(sed -n 's/^# guest kernel: //p' "$tap")
totals=$(grep '^# Totals:' "$tap")
echo "1..5"
n_pass=$(sed -n 's/^# Totals: pass:\([0-9]*\).*/\1/p' <<<"$totals")
[ "${n_pass:-0}" -gt 0 ]
ok=$?
echo "$([ $ok = 0 ] || echo "not ")ok 1 - forkpin ran the vfio cases in the guest (kernel ${kernel:-?}, ${n_pass:-0} passed, exit $st)"
fail=$ok

unexpected=$(grep -c '^not ok ' "$tap")
grep '^not ok ' "$tap" | sed 's/^/# unexpected: /'
known=$(sed -n 's/^ok [0-9]* \([^ ]*\) # XFAIL.*/\1/p' "$tap" | tr '\n' ' ')
errors=$(sed -n 's/.* error:\([0-9]*\).*/\1/p' <<<"$totals")
if [ "$unexpected" = 0 ] && [ "${errors:-1}" = 0 ] && [ -n "$totals" ]; then
	echo "ok 2 - no failures; known kernel limitations (XFAIL): ${known:-none}"
else
	echo "not ok 2 - $unexpected unexpected failure(s), ${errors:-?} error(s)"
	fail=1
fi

vfio_skips=$(sed -n 's/^ok [0-9]* \([^ ]*\) # SKIP \(.*\)/\1: \2/p' "$tap" |
	grep -iE ': .*(vfio|iommu|device)')
if [ -z "$vfio_skips" ]; then
	echo "ok 3 - no case skipped for a VFIO, IOMMU or device reason"
else
	echo "not ok 3 - cases skipped for a VFIO reason"
	printf '%s\n' "$vfio_skips" | head -3 | sed 's/^/#   /'
	fail=1
fi

if grep -qE 'controls detected:[1-9][0-9]* missed:0\)' <<<"$totals"; then
	echo "ok 4 - the negative controls (control-dontneed) are detected as lost DMA"
else
	echo "not ok 4 - controls: $totals"
	fail=1
fi
# "# iommufd-plan: same=yes iommufd=no skips=N planned_s=A unplanned_s=B" (guest script):
# without iommufd the cases SKIP naming /dev/iommu, planned in less than half the case time
plan=$(sed -n 's/^# iommufd-plan: //p' "$tap")
read -r same iommufd skips pms ums <<<"$(sed 's/[a-z_]*=//g' <<<"$plan")"
if [ "$same" = yes ] && { [ "$iommufd" = yes ] ||
	{ [ "${skips:-0}" -gt 0 ] && awk -v a="${pms:-x}" -v b="${ums:-0}" \
		'BEGIN { exit !(a + 0 == a && a * 2 < b) }'; }; }; then
	echo "ok 5 - vfio-iommufd: the same TAP with and without the per-run plan ($plan)"
else
	echo "not ok 5 - vfio-iommufd with and without the per-run plan: ${plan:-no line}"
	fail=1
fi
exit $fail
