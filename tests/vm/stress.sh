#!/bin/bash
# The race stressor in the test VM, one boot: a short run on every pinning backend the guest
# has (io_uring, verbs on rxe0, vfio on edu) must pass and show real overlap of pins with
# forks; with the MADV_DONTNEED breakage injected it must fail with the lost-DMA diagnosis.
# usage: tests/vm/stress.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-vmstress.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2016 # expanded by the guest shell
guest='
for b in iouring verbs vfio; do
	"$0" stress -b $b --duration 3 --threads 1 --json "$FORKPIN_VM_OUT/$b.json" >/dev/null
	echo "exit $b $?"
done
"$0" stress -b verbs --iterations 12 --threads 1 --inject dontneed:3 \
	--json "$FORKPIN_VM_OUT/inject.json" >/dev/null
echo "exit inject $?"
'
out=$("$here/../setup/vm/run" --out "$tmp" -- sh -c "$guest" "$fp" 2>&1)
for b in iouring verbs vfio; do
	contains "exit $b 0" "stress on $b passes in the guest"
	python3 - "$tmp/$b.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["backends"][0]
print(f"# {b['backend']}: {b['iterations']} iterations, {b['forks']} forks, "
      f"{b['overlaps']} registrations overlapped a fork, {b['failures']} failures")
sys.exit(0 if b["result"] == "pass" and b["iterations"] > 0 and b["forks"] > 0 else 1)
PY
	ok $? "the $b run forked and iterated (its power is reported)"
done
contains "exit inject 1" "with MADV_DONTNEED injected, verbs stress fails"
grep -q "device wrote into a page the parent no longer maps" "$tmp/inject.json"
ok $? "and diagnoses lost DMA"
tap_done
