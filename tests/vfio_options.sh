#!/bin/bash
# The vfio backend's option checks on the host (no VFIO needed): a malformed BDF, a missing
# device and a device not bound to vfio-pci stop `forkpin run` with exit 2 and one line;
# without a device every vfio case SKIPs saying how to name one (exit 4).
# usage: tests/vfio_options.sh FORKPIN
fp=$1 n=0 failed=0
unset FORKPIN_VFIO_BDF
t() { # DESC WANT_RC WANT_TEXT ARGS...
	local desc=$1 want=$2 text=$3 out rc
	shift 3
	out=$("$fp" run --backend vfio "$@" 2>&1)
	rc=$?
	n=$((n + 1))
	if [ "$rc" = "$want" ] && grep -q -- "$text" <<<"$out"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc (exit $rc, want $want)"
		printf '%s\n' "$out" | head -3 | sed 's/^/# /'
		failed=1
	fi
}
echo "1..4"
t "malformed BDF is exit 2" 2 "not a PCI address" --vfio-device 00:1z.0
t "missing device is exit 2" 2 "no such PCI device" --vfio-device 0000:ff:1f.7
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = vfio-pci ] || { dev=${d##*/}; break; }
done
if [ -n "$dev" ]; then
	t "device not on vfio-pci is exit 2" 2 "not vfio-pci: run setup/vfio-bind" --vfio-device "$dev"
else
	n=$((n + 1))
	echo "ok $n - device not on vfio-pci # SKIP no PCI device outside vfio-pci here"
fi
t "no device: every case SKIPs naming the option" 4 "SKIP no VFIO device given: pass --vfio-device"
exit $failed
