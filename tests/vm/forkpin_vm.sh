#!/bin/bash
# `forkpin vm` end to end: the host matrix runs under the guest's Debian kernel and its
# reports come back; a case that fails in the guest fails the host command, named.
# usage: tests/vm/forkpin_vm.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-vmtest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

out=$("$fp" vm -b iouring,vmsplice --json "$tmp/r.json" --junit "$tmp/r.xml" 2>&1)
rc=$?
ok $([ $rc -eq 0 ] && echo 0 || echo 1) "the io_uring matrix passes in the guest (exit $rc)"
[ $rc -eq 0 ] || printf '%s\n' "$out" | grep -E '^not ok|vm:' | sed 's/^/# /' | head -20
contains "control detected" "guest TAP reaches the host"
python3 - "$tmp/r.json" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
guest = r["env"]["kernel.release"]
print(f"# guest kernel {guest}, {len(r['cases'])} cases")
sys.exit(0 if guest != os.uname().release and r["cases"] else 1)
PY
ok $? "the JSON report came back from the guest, with the guest's kernel"
python3 "$here/check_reports.py" "$tmp/r.json" "$tmp/r.xml" --failed 0 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "the guest's JSON and JUnit reports agree"

out=$("$fp" vm iouring/anon/nested --timeout 0.001 2>&1)
rc=$?
ok $([ $rc -eq 1 ] && echo 0 || echo 1) "a case failing in the guest makes forkpin vm exit 1 (got $rc)"
contains "not ok 1 iouring/anon/nested # timeout" "and the failing case is named"

out=$("$fp" vm --kernels 6.1,6.12 iouring/anon/parent-writes vmsplice/anon/device-reads \
	--compare "$tmp/cmp.tsv" 2>&1)
rc=$?
ok $([ $rc -eq 0 ] && echo 0 || echo 1) "forkpin vm --kernels 6.1,6.12 runs both (exit $rc)"
contains "# comparison over kernels: 6.1 6.12 (2 cases)" "and prints one comparison"
printf '%s\n' "case	6.1	6.12" "iouring/anon/parent-writes	pass	pass" \
	"vmsplice/anon/device-reads	control-detected	control-detected" | diff - "$tmp/cmp.tsv" >/dev/null
ok $? "the --compare table has every case's verdict on every kernel"

out=$("$fp" vm --kernel-release 9.9 2>&1)
rc=$?
ok $([ $rc -eq 2 ] && echo 0 || echo 1) "an unknown kernel release is a usage error (got $rc)"
tap_done
