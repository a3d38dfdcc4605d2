#!/bin/bash
# tests/fault/hugetlb.sh: setup/hugetlb against a fake /sys/kernel/mm/hugepages
# (FORKPIN_SYSROOT): reservations are reference-counted (two users, one restore leaves the
# pool), concurrent reserves under the lock lose no reference, a pool the admin changed
# meanwhile is kept, restore --all drops everything, reserved pages are not counted as
# usable. Runs as root, or as root of a user namespace (unshare -r). Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
become_root "$0" "$@"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pool=$T/root/sys/kernel/mm/hugepages/hugepages-2048kB
state=$T/state/hugetlb-hugepages-2048kB.state

fresh() { # NR FREE RESV
	rm -rf "$T/root" "$T/state"
	mkdir -p "$pool"
	echo "$1" >"$pool/nr_hugepages"
	echo "$2" >"$pool/free_hugepages"
	echo "$3" >"$pool/resv_hugepages"
}
h() {
	out=$(FORKPIN_SYSROOT=$T/root FORKPIN_STATE_DIR=$T/state "$top/setup/hugetlb" "$@" 2>&1)
	rc=$?
}
nr() { cat "$pool/nr_hugepages"; }
refs() { sed -n 's/^refs=//p' "$state" 2>/dev/null || echo none; }
check() { # STATUS DESCRIPTION: ok, with the state and output when it failed
	ok "$1" "$2"
	[ "$1" = 0 ] || printf '# %s\n' "nr=$(nr) refs=$(refs) rc=$rc" "$out" | head -4
}

fresh 0 8 0
h reserve 16
[ "$rc" = 0 ] && [ "$(nr)" = 16 ] && [ "$(refs)" = 1 ]
check $? "reserve raises the pool and takes a reference"
h reserve 8
[ "$rc" = 0 ] && [ "$(nr)" = 16 ] && [ "$(refs)" = 2 ]
check $? "a second user takes a second reference, the pool unchanged"
h restore
[ "$rc" = 0 ] && [ "$(nr)" = 16 ] && [ "$(refs)" = 1 ]
check $? "one restore leaves the pool to the other user"
h restore
[ "$rc" = 0 ] && [ "$(nr)" = 0 ] && [ ! -e "$state" ]
check $? "the last restore puts the original size back"

fresh 0 8 0
h reserve 16
echo 32 >"$pool/nr_hugepages"
h restore
[ "$rc" = 0 ] && [ "$(nr)" = 32 ] && [ ! -e "$state" ]
check $? "a pool the admin changed meanwhile is kept"
[[ $out == *"changed by someone else, kept"* ]]
check $? "and the restore says so"

fresh 0 8 0
h reserve 16
echo 4 >"$pool/nr_hugepages"
h reserve 16
[[ $out == *"changed meanwhile"* ]]
check $? "a reserve after an admin change says so"
h restore
h restore
[ "$(nr)" = 4 ]
check $? "the admin's value (4), not the first original (0), survives both restores"

fresh 0 8 0
for _ in 1 2 3 4 5 6; do
	FORKPIN_SYSROOT=$T/root FORKPIN_STATE_DIR=$T/state "$top/setup/hugetlb" reserve 16 >/dev/null 2>&1 &
done
wait
[ "$(refs)" = 6 ]
check $? "six concurrent reserves under the lock record six references ($(refs))"
h restore --all
[ "$rc" = 0 ] && [ "$(nr)" = 0 ] && [ ! -e "$state" ]
check $? "restore --all drops every reference and restores"

fresh 6 6 6
h reserve 1
[[ $out == *"only 0 usable"* ]]
check $? "6 free but 6 reserved is 0 usable, not 6 free"
h status
[[ $out == *"usable=0"* ]]
check $? "status counts reserved pages as not usable"

fresh 0 8 0
h reserve lots
[ "$rc" = 2 ]
check $? "a bad page count is a usage error"
h restore --bogus
[ "$rc" = 2 ]
check $? "a bad restore option is a usage error"
mkdir -p "$T/state" && printf 'orig=x\n' >"$state"
h restore
[ "$rc" = 2 ] && [ -e "$state" ]
check $? "a damaged state file is reported and kept"

tap_done

