#!/bin/bash
# tests/vm/vfio-bind.sh: check setup/vfio-bind and setup/vfio-unbind in the test VM on its edu
# device: bad input and non-root callers get a one-line error; unbind restores exactly the
# binding (driver and driver_override) the device had before bind, from an unbound device,
# from a device already on vfio-pci, and after a "crash" that left a half-done binding.
# The VM's edu device is left as the VM's init bound it. Prints TAP; exit 0/1, 77 (skip) if
# QEMU is not installed. Extra arguments go to setup/vm/run (e.g. --kernel-release 6.12).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
skip_without_qemu

# shellcheck disable=SC2016 # expanded by the guest shell
guest_script='
bind=$TOP/setup/vfio-bind unbind=$TOP/setup/vfio-unbind
export FORKPIN_STATE_DIR=$(mktemp -d /tmp/vfio-bind-test.XXXXXX)
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; printf "%s\n" "$@" | sed "s/^/# /"; failed=1; }
# expect DESC STATUS CMD...: CMD exits with STATUS and prints exactly one line on stderr.
expect() {
	desc=$1 want=$2
	shift 2
	err=$("$@" 2>&1 >/dev/null)
	st=$?
	lines=$(printf "%s" "$err" | grep -c "")
	if [ "$st" = "$want" ] && [ "$lines" = 1 ]; then ok "$desc: $err"; else not_ok "$desc" "exit $st (want $want), $lines stderr lines:" "$err"; fi
}
drv() { basename "$(readlink /sys/bus/pci/devices/$edu/driver 2>/dev/null)" 2>/dev/null; }
ovr() { cat /sys/bus/pci/devices/$edu/driver_override; }
state() { echo "driver=$(drv) override=$(ovr)"; }
# set_state DRIVER OVERRIDE: put edu there by hand (DRIVER empty: unbound).
set_state() {
	[ -e /sys/bus/pci/devices/$edu/driver ] && echo $edu >/sys/bus/pci/devices/$edu/driver/unbind
	echo "$2" >/sys/bus/pci/devices/$edu/driver_override
	[ -n "$1" ] && echo $edu >/sys/bus/pci/drivers/$1/bind
	[ "$(drv)" = "$1" ]
}
check_state() { # DESC WANT
	now=$(state)
	if [ "$now" = "$2" ]; then ok "$1 ($now)"; else not_ok "$1" "now:  $now" "want: $2"; fi
}

edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && edu=${d##*/}
done
echo "1..13"
if [ -z "$edu" ]; then echo "Bail out! no edu device"; exit 1; fi
initial=$(state)
echo "# edu $edu, initially: $initial"

expect "malformed BDF" 2 $bind 00:1z.0
expect "malformed BDF (unbind)" 2 $unbind 0000:00:01
expect "missing device" 1 $bind 0000:00:1e.7
# A copy nobody can read even when the checkout sits in a private directory (mktemp -d).
pub=$(mktemp -d /tmp/vfio-bind-pub.XXXXXX)
mkdir -p "$pub/lib" && cp "$bind" "$pub/" && cp "$(dirname "$bind")/lib/vfio.sh" "$pub/lib/" &&
	chmod -R a+rX "$pub"
expect "non-root caller" 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$pub/$(basename "$bind")" $edu
rm -rf "$pub"
expect "unbind without a recorded binding" 1 $unbind $edu

# 1. From an unbound device without driver_override.
set_state "" "" || not_ok "could not unbind edu by hand"
before=$(state)
$bind $edu >/dev/null && [ "$(drv)" = vfio-pci ] && ok "bind an unbound device" || not_ok "bind an unbound device" "$(state)"
$unbind $edu >/dev/null; check_state "unbind restores the unbound state" "$before"

# 2. From a device already on vfio-pci (as the VM init leaves it): bind and unbind are no-ops.
set_state vfio-pci vfio-pci || not_ok "could not rebind edu by hand"
before=$(state)
$bind $edu >/dev/null; check_state "bind a device already on vfio-pci" "$before"
$unbind $edu >/dev/null; check_state "unbind keeps it on vfio-pci" "$before"

# 3. Crash half-way: the device was bound, then someone unbound it (driver_override still
#    vfio-pci), the binder is gone; a fresh unbind restores the recorded state.
set_state "" "" >/dev/null
before=$(state)
$bind $edu >/dev/null
echo $edu >/sys/bus/pci/devices/$edu/driver/unbind
$unbind $edu >/dev/null; check_state "unbind after a half-done binding" "$before"

# 4. bind twice keeps the first record (the original, not vfio-pci).
$bind $edu >/dev/null; $bind $edu >/dev/null
$unbind $edu >/dev/null; check_state "bind twice, unbind once restores the original" "$before"
[ ! -e "$FORKPIN_STATE_DIR/vfio/$edu" ] && ok "the record is gone after unbind" || not_ok "record left behind"

# Leave edu as the VM init bound it.
set_state vfio-pci vfio-pci >/dev/null
check_state "edu back as the VM set it up" "$initial"
exit $failed
'
"$top/setup/vm/run" "$@" -- env TOP="$top" bash -c "$guest_script"
