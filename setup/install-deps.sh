#!/bin/bash
# setup/install-deps.sh: install (idempotently) the Debian 12 packages forkpin needs to build,
# test, and run its test VM. Runs apt-get update only when a package cannot be found.
# Usage: setup/install-deps.sh [--dry-run] [--kernel]   (as root, or with sudo available)
#   --kernel  also the packages setup/kernel/build needs to build the custom test kernels
set -euo pipefail

build=(meson ninja-build pkg-config gcc clang-format liburing-dev libibverbs-dev
	librdmacm-dev libfabric-dev)
tests=(python3 libxml2-utils debhelper fakeroot groff-base man-db bash-completion chromium
	gnuplot-nox slurmctld slurmd slurm-client munge strace)
vm=(qemu-system-x86 busybox-static kmod rdma-core ibverbs-providers ibverbs-utils
	rdmacm-utils perftest iproute2)
# setup/kernel/build (only with --kernel): a kernel from Debian's linux-source package
kernel=(build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils)

dry=0
groups=(build tests vm)
for arg in "$@"; do
	case $arg in
	--dry-run) dry=1 ;;
	--kernel) groups+=(kernel) ;;
	*)
		echo "install-deps: unknown option $arg (use --dry-run, --kernel)" >&2
		exit 2
		;;
	esac
done

sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: run as root (or install sudo)" >&2
		exit 1
	}
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

missing() { # print the packages of "$@" that are not installed
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}

unknown() { # print the packages of "$@" that apt does not know
	local p
	for p in "$@"; do
		apt-cache show "$p" >/dev/null 2>&1 || echo "$p"
	done
}

updated=0
for group in "${groups[@]}"; do
	declare -n pkgs=$group
	mapfile -t wanted < <(missing "${pkgs[@]}")
	if [ ${#wanted[@]} -eq 0 ]; then
		echo "install-deps: $group: all ${#pkgs[@]} packages installed"
		continue
	fi
	if [ "$dry" = 1 ]; then
		echo "install-deps: $group: would install ${wanted[*]}"
		continue
	fi
	if [ "$updated" = 0 ] && [ -n "$(unknown "${wanted[@]}")" ]; then
		echo "install-deps: apt-get update (package lists lack: $(unknown "${wanted[@]}" | xargs))"
		"${sudo[@]}" apt-get -qq update >/dev/null
		updated=1
	fi
	echo "install-deps: $group: installing ${wanted[*]}"
	"${sudo[@]}" apt-get -qq install -y --no-install-recommends "${wanted[@]}" >/dev/null
done
echo "install-deps: done"
