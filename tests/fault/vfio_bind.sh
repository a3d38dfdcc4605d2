#!/bin/bash
# tests/fault/vfio_bind.sh: setup/vfio-bind and setup/vfio-unbind against a fake sysfs/proc
# tree (FORKPIN_SYSROOT) with stub ip/modprobe/zpool: each way a host uses a device is
# refused (also with a state file left by an earlier run, and with a mount seen only in
# another mount namespace), and every failure puts the original binding back with no
# unset-variable abort. The fake kernel never binds vfio-pci, so a bind ends on its failure
# path. Runs as root, or as root of a user namespace (unshare -r). Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
become_root "$0" "$@"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R=$T/root
bdf=0000:00:04.0 nic=0000:00:05.0

# The fake kernel: an NVMe device (nvme0, nvme0n1, nvme0n1p1) on nvme, a NIC with eth9.
make_tree() {
	local d=$R/sys/devices/pci0000:00/$bdf n=$R/sys/devices/pci0000:00/$nic
	rm -rf "$R" "$T/state" "$T/ipdata"
	mkdir -p "$d/nvme/nvme0/nvme0n1/nvme0n1p1/holders" "$d/nvme/nvme0/nvme0n1/holders" \
		"$R/sys/bus/pci/devices" "$R/sys/bus/pci/drivers/nvme" "$R/sys/bus/pci/drivers/vfio-pci" \
		"$R/sys/bus/pci/drivers/e1000e" "$R/sys/kernel/iommu_groups/5" "$R/sys/class/block" \
		"$R/sys/class/net" "$n/net/eth9" "$R/proc/1/fd" "$T/state" "$T/ipdata"
	touch "$R/sys/bus/pci/drivers/nvme/bind" "$R/sys/bus/pci/drivers/nvme/unbind" \
		"$R/sys/bus/pci/drivers_probe" "$R/sys/bus/pci/drivers/e1000e/unbind"
	echo "(null)" >"$d/driver_override"
	echo "(null)" >"$n/driver_override"
	ln -s ../../../kernel/iommu_groups/5 "$d/iommu_group"
	ln -s ../../../kernel/iommu_groups/5 "$n/iommu_group"
	ln -s ../../../bus/pci/drivers/nvme "$d/driver"
	ln -s ../../../bus/pci/drivers/e1000e "$n/driver"
	ln -s "../../../devices/pci0000:00/$bdf" "$R/sys/bus/pci/devices/$bdf"
	ln -s "../../../devices/pci0000:00/$nic" "$R/sys/bus/pci/devices/$nic"
	printf 'DEVNAME=nvme0\n' >"$d/nvme/nvme0/uevent"
	echo 241:0 >"$d/nvme/nvme0/dev"
	printf 'DEVNAME=nvme0n1\nDEVTYPE=disk\n' >"$d/nvme/nvme0/nvme0n1/uevent"
	echo 259:0 >"$d/nvme/nvme0/nvme0n1/dev"
	printf 'DEVNAME=nvme0n1p1\nDEVTYPE=partition\n' >"$d/nvme/nvme0/nvme0n1/nvme0n1p1/uevent"
	echo 259:1 >"$d/nvme/nvme0/nvme0n1/nvme0n1p1/dev"
	ln -s "../../devices/pci0000:00/$bdf/nvme/nvme0/nvme0n1" "$R/sys/class/block/nvme0n1"
	ln -s "../../devices/pci0000:00/$bdf/nvme/nvme0/nvme0n1/nvme0n1p1" "$R/sys/class/block/nvme0n1p1"
	ln -s "../../devices/pci0000:00/$nic/net/eth9" "$R/sys/class/net/eth9"
	echo 1 >"$n/net/eth9/flags"
	echo "22 1 0:21 / / rw - overlay overlay rw" >"$R/proc/1/mountinfo"
	echo bash >"$R/proc/1/comm"
	: >"$R/proc/1/maps"
	printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$R/proc/swaps"
}

# Stubs: ip answers from $T/ipdata/<what>-<dev>, modprobe fails, zpool lists $T/zpool.
mkdir -p "$T/bin"
cat >"$T/bin/ip" <<'STUB'
#!/bin/bash
what=addr
[[ " $* " == *" route "* ]] && what=route
dev=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$*")
cat "$FAKE_IP/$what-$dev" 2>/dev/null
exit 0
STUB
printf '#!/bin/sh\necho "modprobe stub: $*" >&2\nexit 1\n' >"$T/bin/modprobe"
printf '#!/bin/sh\ncat "%s/zpool" 2>/dev/null\n' "$T" >"$T/bin/zpool"
chmod +x "$T/bin/"*

run_script() { # SCRIPT ARGS...: output in $out, status in $rc
	local s=$1
	shift
	out=$(PATH=$T/bin:$PATH FAKE_IP=$T/ipdata FORKPIN_SYSROOT=$R FORKPIN_STATE_DIR=$T/state \
		"$top/setup/$s" "$@" 2>&1)
	rc=$?
}
override() { cat "$R/sys/devices/pci0000:00/$1/driver_override"; }
no_unset() { ok "$([[ $out == *"unbound variable"* ]] && echo 1 || echo 0)" "$1: no unset-variable abort"; }

# refused DESCRIPTION TEXT [BDF]: vfio-bind refuses, naming TEXT, and changes nothing.
refused() {
	local dev=${3:-$bdf}
	run_script vfio-bind "$dev"
	ok "$([ "$rc" = 1 ] && [[ $out == *"refusing $dev"*"$2"* ]] && echo 0 || echo 1)" "$1: refused (exit $rc)"
	[[ $out == *"$2"* ]] || printf '# %s\n' "$out" | head -5
	ok "$([ "$(override "$dev")" = "(null)" ] && [ ! -e "$T/state/vfio/$dev" ] && echo 0 || echo 1)" \
		"$1: driver_override and state untouched"
	no_unset "$1"
}

make_tree
run_script vfio-bind "$bdf"
ok "$([ "$rc" = 1 ] && [[ $out == *"did not take"* ]] && echo 0 || echo 1)" \
	"an unused device gets to the bind, which the fake kernel refuses (exit $rc)"
ok "$([[ $out == *"original binding restored (nvme)"* ]] && echo 0 || echo 1)" "the failure says the original binding is back"
ok "$([ -z "$(override $bdf | tr -d '\n')" ] && [ ! -e "$T/state/vfio/$bdf" ] && echo 0 || echo 1)" \
	"driver_override cleared again and the state forgotten"
no_unset "failed bind"

make_tree
echo "36 25 259:1 / /data rw,relatime - ext4 /dev/root rw" >>"$R/proc/1/mountinfo"
refused "a partition mounted as /dev/root" "259:1 at /data"

make_tree
mkdir -p "$R/proc/4242"
echo "40 30 259:0 / /srv rw - xfs /dev/whatever rw" >"$R/proc/4242/mountinfo"
refused "a disk mounted only in another mount namespace" "mount namespace of process 4242"

make_tree
mkdir -p "$T/state/vfio"
printf 'driver=nvme\noverride=\n' >"$T/state/vfio/$bdf"
echo "36 25 259:1 / /data rw - ext4 /dev/nvme0n1p1 rw" >>"$R/proc/1/mountinfo"
run_script vfio-bind "$bdf"
ok "$([ "$rc" = 1 ] && [[ $out == *"refusing $bdf"* ]] && echo 0 || echo 1)" \
	"a state file left by an earlier run does not skip the in-use check (exit $rc)"

make_tree
printf '/dev/nvme0n1p1 partition 1048572 0 -2\n' >>"$R/proc/swaps"
refused "swap on a partition" "/dev/nvme0n1p1 is used as swap"

make_tree
touch "$R/sys/devices/pci0000:00/$bdf/nvme/nvme0/nvme0n1/holders/dm-0"
refused "a disk held by device-mapper" "held by dm-0"

make_tree
printf '  pool\n    /dev/nvme0n1p1  ONLINE\n' >"$T/zpool"
refused "a partition in a ZFS pool" "ZFS pool"
rm -f "$T/zpool"

make_tree
echo "2: eth9    inet 10.9.0.1/24 scope global eth9" >"$T/ipdata/addr-eth9"
refused "a NIC with an address" "eth9 has addresses" "$nic"

make_tree
echo "10.8.0.0/16 via 10.9.0.254" >"$T/ipdata/route-eth9"
refused "a NIC with a route" "eth9 has routes" "$nic"

# Without the ip tool an interface that is up counts as used (and one that is down not).
make_tree
mkdir -p "$T/noip"
# Links to every tool but ip; the stubs are linked, never copied over a link (a copy would
# write through it into the real tool).
find /usr/bin /usr/sbin -mindepth 1 -maxdepth 1 ! -name ip ! -name modprobe ! -name zpool \
	-exec ln -s -t "$T/noip" {} + 2>/dev/null # a name in both: the first one wins
ln -sfn "$T/bin/modprobe" "$T/noip/modprobe"
ln -sfn "$T/bin/zpool" "$T/noip/zpool"
out=$(PATH=$T/noip FORKPIN_SYSROOT=$R FORKPIN_STATE_DIR=$T/state \
	"$top/setup/vfio-bind" "$nic" 2>&1)
ok "$([[ $out == *"eth9 is up (install iproute2"* ]] && echo 0 || echo 1)" "without ip, a NIC that is up is refused"
[[ $out == *"eth9 is up"* ]] || printf '# %s\n' "$out" | head -3
echo 0 >"$R/sys/devices/pci0000:00/$nic/net/eth9/flags"
out=$(PATH=$T/noip FORKPIN_SYSROOT=$R FORKPIN_STATE_DIR=$T/state \
	"$top/setup/vfio-bind" "$nic" 2>&1)
ok "$([[ $out == *"did not take"* ]] && echo 0 || echo 1)" "without ip, a NIC that is down is not refused"

make_tree
touch "$R/sys/devices/pci0000:00/$nic/net/eth9/master"
refused "a NIC enslaved to a bond" "eth9 is enslaved" "$nic"

make_tree
run_script vfio-bind "$nic"
ok "$([[ $out == *"did not take"* ]] && echo 0 || echo 1)" "a NIC that is up without addresses or routes is not refused"

make_tree
mkdir -p "$R/proc/888/fd"
echo fio >"$R/proc/888/comm"
ln -s /dev/nvme0n1 "$R/proc/888/fd/3"
refused "a process with the disk open" "process 888 (fio) holds"

make_tree
mkdir -p "$R/proc/889/fd"
echo spdk >"$R/proc/889/comm"
ln -s "/sys/devices/pci0000:00/$bdf/resource0" "$R/proc/889/fd/7"
refused "a process with a BAR (resource0) open" "process 889 (spdk) holds"

make_tree
mkdir -p "$R/proc/890/fd"
echo dpdk >"$R/proc/890/comm"
echo "7f00-7f10 rw-s 0 00:05 12 /sys/devices/pci0000:00/$bdf/resource2" >"$R/proc/890/maps"
refused "a process with a BAR mapped" "process 890 (dpdk) holds"

make_tree
echo "36 25 259:1 / /data rw - ext4 /dev/nvme0n1p1 rw" >>"$R/proc/1/mountinfo"
run_script vfio-bind --force "$bdf"
ok "$([[ $out == *"did not take"* ]] && echo 0 || echo 1)" "--force skips the in-use check"

make_tree
rm "$R/sys/devices/pci0000:00/$bdf/driver"
ln -s ../../../bus/pci/drivers/vfio-pci "$R/sys/devices/pci0000:00/$bdf/driver"
echo "36 25 259:1 / /data rw - ext4 /dev/nvme0n1p1 rw" >>"$R/proc/1/mountinfo"
run_script vfio-bind "$bdf"
ok "$([ "$rc" = 0 ] && [[ $out == *"already bound to vfio-pci"* ]] && echo 0 || echo 1)" \
	"a device already on vfio-pci is not checked (exit $rc)"

# Failure paths after the state is written: each must restore and forget.
make_tree
rm "$R/sys/bus/pci/drivers/nvme/unbind" && mkdir "$R/sys/bus/pci/drivers/nvme/unbind"
run_script vfio-bind "$bdf"
ok "$([ "$rc" = 1 ] && [[ $out == *"cannot unbind"* ]] && [ -z "$(override $bdf | tr -d '\n')" ] &&
	[ ! -e "$T/state/vfio/$bdf" ] && echo 0 || echo 1)" "a failed unbind write restores the override and the state (exit $rc)"
no_unset "failed unbind"

make_tree
rmdir "$R/sys/bus/pci/drivers/vfio-pci"
printf '#!/bin/sh\nkill -TERM $PPID\nexit 1\n' >"$T/bin/modprobe"
run_script vfio-bind "$bdf"
ok "$([ "$rc" = 143 ] && [ ! -e "$T/state/vfio/$bdf" ] && [ "$(override $bdf)" != vfio-pci ] && echo 0 || echo 1)" \
	"SIGTERM half-way: exit 143, the state forgotten and the binding as before (exit $rc)"
printf '#!/bin/sh\necho "modprobe stub: $*" >&2\nexit 1\n' >"$T/bin/modprobe"

# vfio-unbind restores exactly what was recorded.
make_tree
mkdir -p "$T/state/vfio"
printf 'driver=nvme\noverride=nvme\n' >"$T/state/vfio/$bdf"
run_script vfio-unbind "$bdf"
ok "$([ "$rc" = 0 ] && [ "$(override $bdf)" = nvme ] && [ ! -e "$T/state/vfio/$bdf" ] && echo 0 || echo 1)" \
	"vfio-unbind puts back the recorded driver_override and forgets the state (exit $rc)"
no_unset "unbind"
run_script vfio-unbind "$bdf"
ok "$([ "$rc" = 1 ] && [[ $out == *"no recorded binding"* ]] && echo 0 || echo 1)" "vfio-unbind without a record refuses (exit $rc)"
run_script vfio-bind ../x
ok "$([ "$rc" = 2 ] && echo 0 || echo 1)" "a malformed address is a usage error (exit $rc)"

tap_done
