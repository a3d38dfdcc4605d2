# shellcheck shell=bash
# Guest kernel cache for setup/vm/run (sourced). Debian kernel packages are fetched with
# apt-get download, unpacked with dpkg-deb -x and given a modules.dep with depmod -b.
#
# Cache layout ($cache = --kernel-cache):
#   $cache/<release>/            one unpacked kernel, complete once it exists (renamed in)
#       vmlinuz  root/lib/modules/<release>/  initramfs.img  package
#   $cache/alias-<selector>      last release resolved for --kernel-release <selector>
#   $cache/apt-<suite>/          private apt sources list + lists (backports, sid, bullseye)
#   $cache/.lock                 flock held while the cache is written
# The host's apt sources and lists are never modified.

# kc_fail MESSAGE: exit 2 (missing host piece), as run's contract says.
kc_fail() {
	echo "vm: $*" >&2
	exit 2
}

# kc_lock: take the cache's write lock, waiting at most $FORKPIN_CACHE_LOCK_WAIT s.
kc_lock() {
	local wait=${FORKPIN_CACHE_LOCK_WAIT:-120}
	exec {kc_lock_fd}>>"$cache/.lock"
	if ! flock -w "$wait" "$kc_lock_fd"; then
		echo "vm: kernel cache $cache is being written by another run for more than" \
			"${wait} s; retry later (or set FORKPIN_CACHE_LOCK_WAIT)" >&2
		exit 2
	fi
	# Whatever a holder of the lock left half-written (killed mid-fetch) is stale now.
	rm -rf "$cache"/.fetch.*
}

kc_unlock() {
	exec {kc_lock_fd}>&-
}

# kc_apt SUITE TOOL ARGS...: run apt-get/apt-cache against the host's sources (SUITE=host)
# or a private sources list + lists dir under the cache (bookworm-backports, sid).
kc_apt() {
	local suite=$1 tool=$2
	shift 2
	if [ "$suite" = host ]; then
		timeout 300 "$tool" -q "$@"
		return
	fi
	local d=$cache/apt-$suite
	timeout 300 "$tool" -q -o Dir::Etc::SourceList="$d/sources.list" \
		-o Dir::Etc::SourceParts="$d/empty" -o Dir::State::Lists="$d/lists" \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$d/empty" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}

# kc_sources SUITE: the sources.list lines for a private SUITE. Security suites live in
# their own archive; "bullseye" (Debian 11, kernel 5.10) is bullseye plus bullseye-security,
# where its kernel updates are published.
kc_sources() {
	local suite=$1 mirror=${FORKPIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local security=${FORKPIN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
	local key=/usr/share/keyrings/debian-archive-keyring.gpg opt=
	[ -f "$key" ] && opt="[signed-by=$key] "
	case $suite in
	bullseye)
		echo "deb $opt$mirror bullseye main"
		echo "deb $opt$security bullseye-security main"
		;;
	*-security) echo "deb $opt$security $suite main" ;;
	*) echo "deb $opt$mirror $suite main" ;;
	esac
}

# kc_apt_update SUITE: create the private lists for SUITE (or refresh them when older than
# a day). The host suite is only updated into a private copy, never in place.
kc_apt_update() {
	local suite=$1 d=$cache/apt-$1 mirror=${FORKPIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	mkdir -p "$d/lists/partial" "$d/empty"
	kc_sources "$suite" >"$d/sources.list"
	if [ -n "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
		return 0
	fi
	local sandbox=()
	[ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
	kc_apt "$suite" apt-get "${sandbox[@]}" update >"$d/update.log" 2>&1 ||
		kc_fail "apt-get update for $suite failed (see $d/update.log); is $mirror reachable?"
}

# kc_resolve SELECTOR: print "SUITE PACKAGE" for the Debian kernel image package to use.
kc_resolve() {
	local sel=$1 suite pkg
	case $sel in
	5.10) suite=bullseye ;;
	6.1) suite=host ;;
	6.12) suite=bookworm-backports ;;
	7.2) suite=sid ;;
	*) kc_fail "unknown --kernel-release $sel (use 5.10, 6.1, 6.12 or 7.2, or --kernel PATH)" ;;
	esac
	if [ "$suite" != host ]; then
		kc_lock
		kc_apt_update "$suite"
		kc_unlock
	fi
	pkg=$(kc_apt "$suite" apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ] && [ "$suite" = host ]; then
		# The host's lists may be missing or stale: use a private copy of bookworm-security
		# and bookworm rather than updating the host's own lists.
		suite=bookworm-security
		kc_lock
		mkdir -p "$cache/apt-$suite"
		kc_apt_update "$suite"
		kc_unlock
		pkg=$(kc_apt "$suite" apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	case $sel in
	5.10) [[ $pkg == linux-image-5.10.* ]] || pkg= ;;
	6.1) [[ $pkg == linux-image-6.1.* ]] || pkg= ;;
	6.12) [[ $pkg == linux-image-6.12.* ]] || pkg= ;;
	7.2) [[ $pkg == linux-image-7.2.* ]] || pkg= ;;
	esac
	[ -n "$pkg" ] || return 1
	echo "$suite $pkg"
}

# kc_fetch SUITE PACKAGE: download and unpack PACKAGE (plus the linux-binary/linux-modules
# packages newer Debian kernels are split into) into $cache/<release>; print <release>.
# Caller holds the lock; a failure leaves $cache/.fetch.* for the next kc_lock to remove.
kc_fetch() {
	local suite=$1 pkg=$2 tmp deps rel
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	deps=$(kc_apt "$suite" apt-cache depends "$pkg" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-(binary|modules|base)-[0-9]/ { printf " %s", $2 }')
	echo "vm: downloading $pkg$deps from Debian ($suite)" >&2
	# shellcheck disable=SC2086
	(cd "$tmp" && kc_apt "$suite" apt-get download "$pkg" $deps) >"$tmp/download.log" 2>&1 ||
		{
			cat "$tmp/download.log" >&2
			kc_fail "apt-get download $pkg failed: is Debian's archive reachable?"
		}
	mkdir "$tmp/root"
	local deb
	for deb in "$tmp"/*.deb; do
		timeout 300 dpkg-deb -x "$deb" "$tmp/root" || kc_fail "dpkg-deb -x $deb failed"
	done
	kc_install_tree "$tmp" "$tmp/root" "$pkg"
}

# kc_install_tree TMP ROOT LABEL: normalise an unpacked kernel tree (ROOT, inside TMP) into
# $cache/<release> with depmod and an initramfs; print <release>.
kc_install_tree() {
	local tmp=$1 root=$2 label=$3 moddir rel
	moddir=$(find "$root/lib/modules" "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 \
		-type d 2>/dev/null | head -n 1)
	[ -n "$moddir" ] || kc_fail "$label contains no lib/modules/<release>"
	rel=${moddir##*/}
	if [ "$moddir" != "$root/lib/modules/$rel" ]; then
		mkdir -p "$root/lib/modules"
		mv "$moddir" "$root/lib/modules/$rel"
	fi
	# Older packages put the image in /boot, split ones (7.x) beside the modules.
	local f
	for f in "$root/boot/vmlinuz-$rel" "$root/lib/modules/$rel/vmlinuz"; do
		[ -f "$f" ] && mv "$f" "$tmp/vmlinuz"
	done
	[ -f "$tmp/vmlinuz" ] || kc_fail "$label contains no vmlinuz for $rel"
	for f in "$root/boot/config-$rel" "$root/lib/modules/$rel/config"; do
		[ -f "$f" ] && cp "$f" "$tmp/config"
	done
	timeout 300 depmod -b "$root" "$rel" || kc_fail "depmod -b $root $rel failed"
	rm -rf "${root:?}/boot" "${root:?}/usr/share"
	kc_initramfs "$root/lib/modules/$rel" "$tmp/initramfs.img"
	echo "$label" >"$tmp/package"
	rm -f "$tmp"/*.deb "$tmp/download.log"
	rm -rf "${cache:?}/$rel"
	mv "$tmp" "$cache/$rel"
	echo "$rel"
}

# kc_mod_closure MODDIR MODULE...: print the module files (relative to MODDIR) needed for
# MODULEs, dependencies first, each once. Modules built into the kernel print nothing.
kc_mod_closure() {
	local moddir=$1
	shift
	awk -v want="$*" '
	function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
	function visit(m,   n, i, d) {
		if (!(m in file) || (m in seen)) return
		seen[m] = 1
		n = split(deps[m], d, " ")
		for (i = 1; i <= n; i++) visit(base(d[i]))
		print file[m]
	}
	{ f = $1; sub(/:$/, "", f); m = base(f); file[m] = f; $1 = ""; deps[m] = $0 }
	END { n = split(want, w, " "); for (i = 1; i <= n; i++) { g = w[i]; gsub(/-/, "_", g); visit(g) } }
	' "$moddir/modules.dep"
}

# Modules the initramfs loads, in this order (plus their dependencies). virtio_iommu comes
# first: the vIOMMU must exist before the devices behind it are bound to drivers.
kc_initramfs_modules="virtio_iommu virtio_pci 9pnet_virtio 9p overlay"

# kc_initramfs MODDIR OUT: build the busybox initramfs with the virtio/9p/overlay modules
# of the kernel whose modules are in MODDIR (may be empty: everything built in).
kc_initramfs() {
	local moddir=$1 out=$2 ir ko
	ir=$(mktemp -d "${TMPDIR:-/tmp}/forkpin-initramfs.XXXXXX")
	mkdir -p "$ir/bin" "$ir/mod"
	cp "$busybox" "$ir/bin/busybox"
	cp "$vm_dir/initramfs-init" "$ir/init"
	chmod 755 "$ir/init"
	: >"$ir/modules.order"
	if [ -n "$moddir" ] && [ -f "$moddir/modules.dep" ]; then
		# shellcheck disable=SC2086
		for ko in $(kc_mod_closure "$moddir" $kc_initramfs_modules); do
			local name=${ko##*/}
			case $name in
			*.ko.xz) xz -dc "$moddir/$ko" >"$ir/mod/${name%.xz}" ;;
			*.ko.zst) zstd -qdc "$moddir/$ko" >"$ir/mod/${name%.zst}" ;;
			*.ko.gz) gzip -dc "$moddir/$ko" >"$ir/mod/${name%.gz}" ;;
			*) cp "$moddir/$ko" "$ir/mod/$name" ;;
			esac
			name=${name%.xz}
			name=${name%.zst}
			echo "mod/${name%.gz}" >>"$ir/modules.order"
		done
	fi
	(cd "$ir" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp" ||
		kc_fail "building the initramfs failed"
	mv "$out.tmp" "$out"
	kc_initramfs_stamp >"${out%.img}.stamp"
	rm -rf "$ir"
}

# kc_get SELECTOR: make sure the Debian kernel for SELECTOR is cached; print <release>.
kc_get() {
	local sel=$1 r suite pkg rel
	# A release resolved within the last day is reused without asking apt (which takes
	# seconds on sid's lists).
	if [ -n "$(find "$cache/alias-$sel" -mmin -1440 2>/dev/null)" ]; then
		rel=$(cat "$cache/alias-$sel")
	fi
	if [ -n "${rel:-}" ] && [ -f "$cache/$rel/initramfs.img" ]; then
		:
	elif r=$(kc_resolve "$sel"); then
		read -r suite pkg <<<"$r"
		rel=${pkg#linux-image-}
		if [ ! -f "$cache/$rel/initramfs.img" ]; then
			kc_lock
			if [ ! -f "$cache/$rel/initramfs.img" ]; then
				rel=$(kc_fetch "$suite" "$pkg") || exit 2
			fi
			kc_unlock
		fi
		if [ -f "$cache/$rel/initramfs.img" ]; then
			echo "$rel" >"$cache/alias-$sel.$$" && mv "$cache/alias-$sel.$$" "$cache/alias-$sel"
		fi
	elif [ -f "$cache/alias-$sel" ]; then
		rel=$(cat "$cache/alias-$sel")
		echo "vm: cannot resolve Debian's $sel kernel with apt; using cached $rel" >&2
	else
		kc_fail "cannot find Debian's linux-image package for $sel with apt" \
			"(install apt, check that Debian's archive is reachable)"
	fi
	[ -f "$cache/$rel/initramfs.img" ] || kc_fail "kernel cache $cache/$rel is incomplete"
	# Rebuild the cached initramfs when its recipe (init script, module list) changed.
	if [ "$(cat "$cache/$rel/initramfs.stamp" 2>/dev/null)" != "$(kc_initramfs_stamp)" ]; then
		kc_lock
		if [ "$(cat "$cache/$rel/initramfs.stamp" 2>/dev/null)" != "$(kc_initramfs_stamp)" ]; then
			kc_initramfs "$cache/$rel/root/lib/modules/$rel" "$cache/$rel/initramfs.img"
		fi
		kc_unlock
	fi
	echo "$rel"
}

# kc_initramfs_stamp: identifies the initramfs recipe (module list, init script, busybox).
kc_initramfs_stamp() {
	{
		echo "$kc_initramfs_modules"
		cat "$vm_dir/initramfs-init" "$busybox"
	} | md5sum | cut -d' ' -f1
}
