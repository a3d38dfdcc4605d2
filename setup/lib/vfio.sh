# shellcheck shell=bash disable=SC2034
# (orig_driver/orig_override are read by the scripts that source this.)
# Shared by setup/vfio-bind and setup/vfio-unbind: checks, sysfs helpers and the recorded
# state. The state file ${FORKPIN_STATE_DIR:-/run/forkpin}/vfio/<BDF> holds the binding a
# device had before setup/vfio-bind changed it (driver=, override=); unbind restores exactly
# that and removes the file. It lives in /run so that it survives a crash of anything but the
# machine, and goes away with the reboot that resets the bindings anyway.

prog=${prog:-vfio}
sysfs_pci=/sys/bus/pci
state_dir=${FORKPIN_STATE_DIR:-/run/forkpin}/vfio

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
