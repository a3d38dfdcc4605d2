#!/bin/bash
# tests/build-subsets.sh: forkpin builds under -Werror with any subset of its optional
# libraries (the feature options in meson_options.txt) and unoptimised, and in a build without
# one, the backends that need it SKIP with the install hint (exit 4 when nothing else ran)
# instead of failing. Four configurations, each a fresh build of the program only:
#   none           every optional library disabled;
#   no-libfabric   rdma-core and liburing, no libfabric;
#   no-rdma-core   libfabric and liburing, no libibverbs/librdmacm;
#   debug          everything, -O0 (GCC's truncation and flow warnings differ by level).
# (The default build, everything found, is the one every other test runs.)
# usage: tests/build-subsets.sh   Prints TAP.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
tmp=$(mktemp -d /tmp/forkpin-subsets.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# build NAME OPTION...: configure and build the program in $tmp/NAME; TAP line; 0 when built
build() {
	local name=$1
	shift
	if meson setup "$tmp/$name" "$top" -Dwerror=true "$@" >"$tmp/$name.log" 2>&1 &&
		ninja -C "$tmp/$name" forkpin >>"$tmp/$name.log" 2>&1; then
		ok 0 "$name: builds under -Werror ($*)"
		return 0
	fi
	ok 1 "$name: builds under -Werror ($*)"
	grep -E 'error|Error' "$tmp/$name.log" | head -n 8 | sed 's/^/# /'
	return 1
}

# unavailable NAME BACKEND HINT: in build NAME, a run of BACKEND skips (exit 4) saying HINT
unavailable() {
	out=$("$tmp/$1/forkpin" run -b "$2" -m anon -s parent-writes 2>&1)
	rc=$?
	ok $([ $rc = 4 ] && echo 0 || echo 1) "$1: a run of $2 only skips (exit $rc, want 4)"
	contains "$3" "$1: and its SKIP says '$3'"
}

none=(-Dliburing=disabled -Dlibibverbs=disabled -Dlibrdmacm=disabled -Dlibfabric=disabled)
if build none "${none[@]}"; then
	unavailable none verbs "built without libibverbs"
	unavailable none verbs-remote "built without librdmacm"
	unavailable none ofi "built without libfabric"
	unavailable none iouring "built without liburing"
fi
if build no-libfabric -Dlibfabric=disabled; then
	unavailable no-libfabric ofi-remote "built without libfabric"
fi
if build no-rdma-core -Dlibibverbs=disabled -Dlibrdmacm=disabled; then
	unavailable no-rdma-core verbs-remote "built without librdmacm"
fi
build debug -Dbuildtype=debug
tap_done
