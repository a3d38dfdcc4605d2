# Shared by the shell tests: TAP output and assertions. Source it; call tap_done at the end.
tap_n=0
tap_fail=0

ok() { # ok CONDITION-EXIT-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_fail=$((tap_fail + 1))
	fi
}

# expect_exit CODE DESCRIPTION -- COMMAND...: runs COMMAND, output in $out, status in $rc.
expect_exit() {
	local want=$1 what=$2
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	ok $([ "$rc" -eq "$want" ] && echo 0 || echo 1) "$what (exit $rc, want $want)"
	[ "$rc" -eq "$want" ] || printf '# %s\n' "$out" | head -5
}

# contains TEXT DESCRIPTION: does $out contain TEXT?
contains() {
	case $out in
	*"$1"*) ok 0 "$2" ;;
	*)
		ok 1 "$2"
		printf '# output was: %s\n' "$out" | head -5
		;;
	esac
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_fail" -eq 0 ]
}

# VM tests: TAP skip (exit 77) when QEMU is missing.
skip_without_qemu() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 && return 0
	echo "1..0 # SKIP qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	exit 77
}

# Kernel-suite VM tests: build (or take from the cache) each custom kernel NAME with
# setup/kernel/build, one TAP line each, its bzImage in image[NAME] (declare -A image first;
# $top and $tmp set). A build that cannot run here (exit 2) SKIPs the whole test (exit 77);
# a failed one ends it (exit 1) with the build's last words.
build_kernels() {
	local k st
	for k in "$@"; do
		"$top/setup/kernel/build" --timeout "${FORKPIN_KERNEL_BUILD_TIMEOUT:-2400}" \
			"$k" >"$tmp/build-$k.out" 2>"$tmp/build-$k.err"
		st=$?
		image[$k]=$(tail -n 1 "$tmp/build-$k.out")
		if [ "$st" = 2 ]; then
			echo "1..0 # SKIP setup/kernel/build $k: $(tail -n 1 "$tmp/build-$k.err")"
			exit 77
		fi
		ok "$st" "setup/kernel/build $k gives a bzImage (${image[$k]})"
		[ "$st" = 0 ] || {
			sed 's/^/# /' "$tmp/build-$k.err" | tail -n 5
			tap_done
			exit 1
		}
	done
}

# Fault tests: run as root, or re-exec as root of a user namespace (unshare -r); else skip.
# Call as: become_root "$0" "$@"
become_root() {
	[ "$(id -u)" = 0 ] && return 0
	exec unshare -r bash "$@" || {
		echo "1..0 # SKIP not root and no user namespaces (unshare -r)"
		exit 77
	}
}
