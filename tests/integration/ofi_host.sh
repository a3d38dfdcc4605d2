#!/bin/bash
# The ofi backends on this host without RDMA: libfabric's tcp provider runs every ofi-api case
# as an API-level check (fi_mr_reg + fi_write/fi_read over loopback, no pins), the pinning
# ofi row SKIPs naming the other row, a bad provider name is a usage error, and a provider
# whose atfork handler aborts fork() fails its cases with that reason (emulated), and the case
# processes start from the per-run zygote (src/backends/ofi_zygote.c).
# usage: tests/integration/ofi_host.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
if "$fp" env 2>/dev/null | grep -q '^ofi  *not built'; then
	echo "1..0 # SKIP forkpin was built without libfabric (apt-get install libfabric-dev)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

expect_exit 0 "ofi-api with tcp passes on the host" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon,memfd,malloc-subpage \
	--json "$tmp/r.json"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | grep '^not ok' | sed 's/^/# /' | head -10
python3 - "$tmp/r.json" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
ran = [c for c in cases if c["result"] == "pass"]
bad = [c for c in cases if c["result"] not in ("pass", "skip")]
print(f"# {len(ran)} ofi-api cases passed, {len(bad)} did not")
for c in bad[:10]:
    print(f"# {c['id']}: {c['result']}: {c['diagnosis']}")
sys.exit(0 if len(ran) >= 25 and not bad and
         all("tcp" in c["note"] and "API-level check" in c["note"] for c in ran) else 1)
PY
ok $? "every ofi-api case ran, and its note names the provider and says API-level check"
contains "ofi-api/anon/in-flight" "ofi-api runs the in-flight case (manual progress)"

expect_exit 4 "the pinning row SKIPs with a non-pinning provider" -- \
	"$fp" run -b ofi --ofi-provider tcp -m anon -s child-writes
contains "does not pin memory: its cases run in the ofi-api row" "and says where they run"

expect_exit 2 "an unknown provider is a usage error" -- \
	"$fp" run -b ofi --ofi-provider bogus -m anon
contains "knows no provider 'bogus'" "and names it"
expect_exit 2 "a malformed provider name is a usage error" -- \
	"$fp" run -b ofi-api --ofi-provider 'tcp name' -m anon

FORKPIN_OFI_TEST_ABORT_ON_FORK=1 expect_exit 1 \
	"a provider whose atfork handler aborts fork() fails the case (emulated)" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon -s child-writes
contains "aborts fork(): a probe process with an open tcp;ofi_rxm domain" \
	"and the reason names the provider and the abort"

# libfabric's start-up is paid once per run: the case processes come from a zygote, are the
# runner's children (the runner reaps them and reports each), and nothing outlives the run.
mark=forkpin-ofi-zygote-$$
FORKPIN_OFI_STATS=1 FORKPIN_TEST_MARK=$mark expect_exit 0 \
	"ofi-api cases started from the per-run zygote pass" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon -s child-writes,parent-writes,nested
contains "ofi-stats: zygote ready" "the zygote was used"
contains "ok 3 ofi-api/anon/nested" "and every case has its result"
# Whether fork() survives an open domain is probed once per run, not in every case (the
# emulated aborting provider above shows a failed run probe leaves each case its own).
contains "fork-probe 0.0 (the run's)" "the cases rely on the run's fork probe"
FORKPIN_OFI_ZYGOTE=0 FORKPIN_OFI_STATS=1 expect_exit 0 \
	"without the zygote the cases rely on the run's fork probe too" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon -s child-writes
contains "fork-probe 0.0 (the run's)" "and say so"
left=$(grep -l "FORKPIN_TEST_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null | grep -v "^/proc/$$/" |
	wc -l)
ok $([ "$left" -eq 0 ] && echo 0 || echo 1) "no process of the run outlives it ($left left)"
# A zygote whose start-up left a descriptor open (as a provider keeping a device context would)
# is not used: its case processes would share it. The lighter zygote takes over.
FORKPIN_OFI_TEST_ZYGOTE_FD=1 FORKPIN_OFI_STATS=1 expect_exit 0 \
	"a zygote left holding a descriptor is not used, and the cases pass" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon -s child-writes
contains "full zygote unused: libfabric's start-up left descriptor" "it says which descriptor"
contains "zygote ready (providers initialised, no fi_getinfo)" "the lighter zygote serves"
# With -j, cases that initialise the providers themselves (no full zygote) run at most one
# per online CPU (one at a time without the run's copy of /proc/kallsyms): at no moment do
# more of their open-to-close intervals (the stats' monotonic times) overlap. With the full
# zygote they may run side by side.
most_at_once() {
	printf '%s\n' "$out" | sed -n 's/.*monotonic \([0-9.]*\) to \([0-9.]*\) s$/\1 1\n\2 -1/p' |
		sort -k1,1n -k2,2n | awk '{ n += $2; if (n > most) most = n } END { print most + 0 }'
}
FORKPIN_OFI_TEST_ZYGOTE_FD=1 FORKPIN_OFI_STATS=1 expect_exit 0 \
	"-j 3 without the full zygote: the cases pass" -- \
	"$fp" run -j 3 -b ofi-api --ofi-provider tcp -m anon -s child-writes,parent-writes,nested,device-reads
n=$(most_at_once)
cpus=$(getconf _NPROCESSORS_ONLN)
ok "$([ "$n" -ge 1 ] && [ "$n" -le "$cpus" ] && [ "$(printf '%s\n' "$out" | grep -c monotonic)" = 4 ] && echo 0 || echo 1)" \
	"and at most one per CPU at once ($n at most, $cpus CPUs)"
FORKPIN_OFI_ZYGOTE=0 FORKPIN_OFI_STATS=1 expect_exit 0 \
	"FORKPIN_OFI_ZYGOTE=0: the cases initialise libfabric themselves, and pass" -- \
	"$fp" run -b ofi-api --ofi-provider tcp -m anon -s child-writes
case $out in
*"zygote ready"*) ok 1 "and no zygote was started" ;;
*) ok 0 "and no zygote was started" ;;
esac
# A libfabric with the verbs provider scans /proc/kallsyms at start-up (for
# ib_umem_dmabuf_get); a case process reads the run's copy instead (ofi_kallsyms.c), so the
# interposed fopen must reach the dlopen()ed library.
lib=$(ldconfig -p | sed -n 's/.*libfabric\.so\.1 .*=> //p' | head -1)
if [ -n "$lib" ] && grep -q ib_umem_dmabuf_get "$lib" "$(dirname "$lib")"/libfabric/*.so 2>/dev/null; then
	served=$(printf '%s\n' "$out" | sed -n 's/.*kallsyms \([0-9]*\) from the run.s copy.*/\1/p')
	ok "$([ "${served:-0}" -ge 1 ] && echo 0 || echo 1)" \
		"the case read /proc/kallsyms from the run's copy (${served:-no} reads)"
else
	echo "ok $((++tap_n)) # SKIP this libfabric does not read /proc/kallsyms"
fi

expect_exit 0 "forkpin env reports the libfabric stack" -- "$fp" env
contains "ofi.libfabric" "with the libfabric version"
contains "ofi.env.FI_EFA_FORK_SAFE" "and the fork environment variables"
tap_done
