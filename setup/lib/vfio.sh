# shellcheck shell=bash disable=SC2034
# (orig_driver/orig_override are read by the scripts that source this.)
# Shared by setup/vfio-bind and setup/vfio-unbind: checks, sysfs helpers and the recorded
# state. The state file ${FORKPIN_STATE_DIR:-/run/forkpin}/vfio/<BDF> holds the binding a
# device had before setup/vfio-bind changed it (driver=, override=); unbind restores exactly
# that and removes the file. It lives in /run so that it survives a crash of anything but the
# machine, and goes away with the reboot that resets the bindings anyway.

#
# FORKPIN_SYSROOT (default empty) prefixes /sys and /proc: tests/fault/ runs these scripts
# against a fake tree with it. Paths the kernel shows (fd links, mount sources) never carry it.

prog=${prog:-vfio}
sysroot=${FORKPIN_SYSROOT:-}
sys=$sysroot/sys
proc=$sysroot/proc
sysfs_pci=$sys/bus/pci
state_dir=${FORKPIN_STATE_DIR:-/run/forkpin}/vfio
orig_driver='' orig_override=''

die() {
	echo "$prog: $*" >&2
	exit 1
}
usage_error() {
	echo "$prog: $*" >&2
	exit 2
}

# Echo every sysfs write, as the kernel's VFIO selftests do: the log says what changed.
sysfs_write() { # VALUE FILE
	echo "$prog: echo '$1' > $2"
	printf '%s\n' "$1" >"$2"
}

# Canonical DDDD:BB:DD.F from DDDD:BB:DD.F or BB:DD.F, lower case; fails when malformed.
canonical_bdf() {
	local b=${1,,}
	[[ $b =~ ^[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$ ]] && b=0000:$b
	[[ $b =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$ ]] || return 1
	echo "$b"
}

require_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (it rebinds PCI drivers through sysfs)"
}

# The name of the driver bound to $1, or nothing.
bound_driver() {
	local link=$sysfs_pci/devices/$1/driver
	[ -e "$link" ] || return 0
	basename "$(readlink "$link")"
}

# driver_override of $1, or nothing when unset ("(null)").
current_override() {
	local v
	v=$(cat "$sysfs_pci/devices/$1/driver_override" 2>/dev/null) || return 0
	[ "$v" = "(null)" ] || printf '%s' "$v"
}

# Validate BDF $1 and that the device exists; prints the canonical form.
check_device() {
	local bdf
	bdf=$(canonical_bdf "$1") ||
		usage_error "'$1' is not a PCI address: expected DDDD:BB:DD.F (lspci -D lists them)"
	[ -d "$sysfs_pci/devices/$bdf" ] || die "no PCI device $bdf (lspci -D lists them)"
	echo "$bdf"
}

# Every device node of PCI device directory $1 (its own and its children's: disks,
# partitions, nvme char devices): lines "TYPE MAJ:MIN NAME", TYPE block or char.
device_nodes() {
	local f dir name type majmin
	while IFS= read -r f; do
		dir=${f%/dev}
		name=$(sed -n 's/^DEVNAME=//p' "$dir/uevent" 2>/dev/null)
		[ -n "$name" ] || name=${dir##*/}
		type=char
		grep -qsE '^DEVTYPE=(disk|partition)$' "$dir/uevent" && type=block
		majmin=$(cat "$f" 2>/dev/null) || continue
		echo "$type $majmin $name"
	done < <(find "$1" -name dev -type f 2>/dev/null)
}

# A mount of block device MAJ:MIN in any mount namespace: every process's mountinfo, since a
# namespace shows only its own mounts (and a root fs may be named /dev/root there).
mounted_majmin() { # MAJ:MIN...
	awk -v want="$*" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) m[w[i]] = 1 }
		($3 in m) { f = FILENAME; sub("/mountinfo$", "", f); sub(".*/", "", f)
			print $3 " at " $5 " (in the mount namespace of process " f ")"; exit }' \
		"$proc"/[0-9]*/mountinfo 2>/dev/null
}

# A network interface of the device that carries traffic: addresses (beyond link-local),
# routes, a master (bond, bridge) or upper devices (VLAN, macvlan).
netdev_in_use() { # DEVICE-DIR
	local n name
	for n in "$sys"/class/net/*; do
		[[ $(readlink -f "$n") == "$1"/* ]] || continue
		name=${n##*/}
		if [ -e "$n/master" ] || compgen -G "$n/upper_*" >/dev/null; then
			echo "network interface $name is enslaved or has upper devices"
			return
		fi
		if ! command -v ip >/dev/null; then
			# No way to see addresses or routes: an interface that is up counts as used.
			if (($(cat "$n/flags" 2>/dev/null || echo 0) & 1)); then
				echo "network interface $name is up (install iproute2 to check its addresses)"
				return
			fi
			continue
		fi
		if [ -n "$(ip -o addr show dev "$name" scope global 2>/dev/null)" ]; then
			echo "network interface $name has addresses"
			return
		fi
		if [ -n "$(ip route show dev "$name" 2>/dev/null)" ] ||
			ip -6 route show dev "$name" 2>/dev/null | grep -qv '^fe80::'; then
			echo "network interface $name has routes"
			return
		fi
	done
}

# A process that holds one of the device's nodes or its sysfs files (resource BARs, config)
# open or mapped. $1: the device's path as the kernel shows it; the rest: node names.
process_holding() {
	local devpath=$1 hit pid args=() name
	shift
	for name in "$@"; do
		args+=(-lname "/dev/$name" -o)
	done
	args+=(-lname "$devpath/*")
	hit=$(find "$proc"/[0-9]*/fd -mindepth 1 -maxdepth 1 \( "${args[@]}" \) -print -quit 2>/dev/null)
	[ -n "$hit" ] || hit=$(grep -lsF "$devpath/" "$proc"/[0-9]*/maps 2>/dev/null | head -1)
	[ -n "$hit" ] || return 0
	pid=${hit#"$proc"/}
	pid=${pid%%/*}
	echo "process $pid ($(cat "$proc/$pid/comm" 2>/dev/null || echo '?')) holds its files open or mapped"
}

# Why device $1 is in use by the host, or nothing: a mounted, swap or held block device (by
# major:minor, in every mount namespace), a network interface with addresses or routes, or a
# process holding its files.
in_use() {
	local dev devpath type majmin name blocks=() names=() bmm=() hit
	dev=$(readlink -f "$sysfs_pci/devices/$1")
	devpath=${dev#"$sysroot"}
	while read -r type majmin name; do
		names+=("$name")
		[ "$type" = block ] || continue
		blocks+=("$name")
		bmm+=("$majmin")
	done < <(device_nodes "$dev")
	if [ ${#bmm[@]} -gt 0 ]; then
		hit=$(mounted_majmin "${bmm[@]}")
		[ -z "$hit" ] || {
			echo "a block device of it is mounted: $hit"
			return
		}
	fi
	for name in ${blocks[@]+"${blocks[@]}"}; do
		if awk -v d="/dev/$name" 'NR > 1 && $1 == d { f = 1 } END { exit !f }' "$proc/swaps" 2>/dev/null; then
			echo "block device /dev/$name is used as swap"
			return
		fi
		hit=$(ls -A "$sys/class/block/$name/holders" 2>/dev/null | tr '\n' ' ')
		if [ -n "$hit" ]; then
			echo "block device /dev/$name is held by ${hit% } (md, device-mapper or ZFS)"
			return
		fi
		if command -v zpool >/dev/null && zpool status -LP 2>/dev/null | grep -qw -- "/dev/$name"; then
			echo "block device /dev/$name is in a ZFS pool"
			return
		fi
	done
	hit=$(netdev_in_use "$dev")
	[ -z "$hit" ] || {
		echo "$hit"
		return
	}
	process_holding "$devpath" ${names[@]+"${names[@]}"}
}

# Read the recorded state of $1 into orig_driver / orig_override; fails when none.
read_state() {
	local f=$state_dir/$1 line
	[ -f "$f" ] || return 1
	orig_driver='' orig_override=''
	while IFS= read -r line; do
		case $line in
		driver=*) orig_driver=${line#driver=} ;;
		override=*) orig_override=${line#override=} ;;
		esac
	done <"$f"
}

write_state() { # BDF DRIVER OVERRIDE
	mkdir -p "$state_dir" || die "cannot create $state_dir (set FORKPIN_STATE_DIR)"
	if ! printf 'driver=%s\noverride=%s\n' "$2" "$3" >"$state_dir/$1.tmp" ||
		! mv "$state_dir/$1.tmp" "$state_dir/$1"; then
		die "cannot write $state_dir/$1"
	fi
}

# Put device $1 back to driver $2 with driver_override $3. Returns non-zero if it did not
# end up exactly there.
restore_binding() {
	local bdf=$1 drv=$2 ovr=$3 cur
	cur=$(bound_driver "$bdf")
	if [ -n "$cur" ] && [ "$cur" != "$drv" ]; then
		sysfs_write "$bdf" "$sysfs_pci/devices/$bdf/driver/unbind" || return 1
	fi
	# An empty line clears driver_override.
	sysfs_write "$ovr" "$sysfs_pci/devices/$bdf/driver_override" || return 1
	cur=$(bound_driver "$bdf")
	if [ -n "$drv" ] && [ "$cur" != "$drv" ]; then
		if [ -e "$sysfs_pci/drivers/$drv" ]; then
			sysfs_write "$bdf" "$sysfs_pci/drivers/$drv/bind" 2>/dev/null ||
				sysfs_write "$bdf" "$sysfs_pci/drivers_probe"
		else
			modprobe "$drv" 2>/dev/null
			sysfs_write "$bdf" "$sysfs_pci/drivers_probe"
		fi
	fi
	[ "$(bound_driver "$bdf")" = "$drv" ] && [ "$(current_override "$bdf")" = "$ovr" ]
}
