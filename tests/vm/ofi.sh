#!/bin/bash
# tests/vm/ofi.sh: in the test VM (rdma_rxe link rxe0 on dummy fp0), the ofi backend with
# libfabric's verbs;ofi_rxm provider must pass every case that can run, detect the
# control-dontneed negative control as lost DMA, and report the libfabric stack.
# Prints TAP; exit 0 all ok, 1 a check failed, 77 (skip) when QEMU is missing.
# usage: tests/vm/ofi.sh FORKPIN [forkpin vm options, e.g. --kernel-release 6.12]
fp=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
skip_without_qemu
if "$fp" env 2>/dev/null | grep -q '^ofi  *not built'; then
	echo "1..0 # SKIP forkpin was built without libfabric (apt-get install libfabric-dev)"
	exit 77
fi
tmp=$(mktemp -d /tmp/forkpin-ofitest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# One boot: a guest that does not finish (exit 3) fails the first check with its reason.
# A slice: each ofi case pays libfabric's start-up (~1 s under TCG), so the whole ofi row
# (~300 cases) would take minutes; the kernel-facing coverage is the verbs row's.
# shellcheck disable=SC2054 # the commas are forkpin's list syntax
slice=(-m anon,thp-pmd,hugetlb-2m,memfd,malloc-subpage
	-s child-writes,parent-writes,child-alive,device-reads,device-reads-ro,fork-exec,posix-spawn,many-children,nested,in-flight,control-dontneed,pin-after-fork,reprotect)
out=$(FORKPIN_OFI_STATS=1 "$fp" vm "$@" -b ofi --ofi-provider 'verbs;ofi_rxm' "${slice[@]}" \
	--json "$tmp/r.json" 2>&1)
rc=$?
ok $([ $rc -eq 0 ] && echo 0 || echo 1) "forkpin vm -b ofi --ofi-provider 'verbs;ofi_rxm' exits 0 (got $rc)"
[ $rc -eq 0 ] || printf '%s\n' "$out" | grep -E '^not ok|^Bail out|vm:' | sed 's/^/# /' | head -20
# What a case process is spared (docs/ofi.md): the verbs provider keeps the device open, so
# the zygote cannot initialise it, but it loads libibverbs' drivers, and libfabric's scans of
# /proc/kallsyms read the run's copy.
zygote=$(printf '%s\n' "$out" | sed -n 's/.*ofi-stats: zygote ready (\(.*\))$/\1/p' | head -1)
ok "$([ -n "$zygote" ] && [ "$zygote" != "libfabric loaded only" ] && echo 0 || echo 1)" \
	"a zygote more than libfabric's load served the cases (${zygote:-none})"
cases=$(printf '%s\n' "$out" | grep -c 'ofi-stats: case ')
copied=$(printf '%s\n' "$out" | grep -c "ofi-stats: case .*kallsyms [1-9][0-9]* from the run's copy")
ok "$([ "$cases" -gt 0 ] && [ "$copied" = "$cases" ] && echo 0 || echo 1)" \
	"every case read /proc/kallsyms from the run's copy ($copied of $cases)"

python3 - "$tmp/r.json" "$tap_n" "$tmp/n" <<'PY'
import json, sys
n = int(sys.argv[2])  # continue the shell's TAP numbering; the count goes to argv[3]
failed = False
def check(ok, desc, diag=()):
    global n, failed
    n += 1
    print(("ok" if ok else "not ok") + f" {n} - {desc}")
    if not ok:
        failed = True
        for d in list(diag)[:15]:
            print("# " + d)
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    check(False, "the guest's JSON report came back", [str(e)])
    open(sys.argv[3], "w").write(str(n))
    sys.exit(1)
env, cases = r["env"], [c for c in r["cases"] if c["backend"] == "ofi"]
plain = [c for c in cases if not c["control"]]
ran = [c for c in plain if c["result"] != "skip"]
bad = [c for c in cases if c["result"] in ("fail", "control-missed")]
check(len(ran) >= 30 and not bad,
      f"{len(ran)} ofi cases ran on rxe and none failed ({len(bad)} failed)",
      [f"{c['id']}: {c['result']}: {c['diagnosis']}" for c in bad])
check(all("verbs;ofi_rxm (rxe0)" in c["note"] for c in ran),
      "every case that ran notes the provider verbs;ofi_rxm on rxe0",
      [f"{c['id']}: {c['note']}" for c in ran if "verbs;ofi_rxm" not in c["note"]])
skips = [c for c in plain if c["result"] == "skip"]
check(not any("provider" in c["diagnosis"] or "fi_" in c["diagnosis"] for c in skips),
      f"no case skipped for want of the provider ({len(skips)} skipped for memory reasons)",
      [f"{c['id']}: {c['diagnosis']}" for c in skips])
dn = [c for c in cases if c["scenario"] == "control-dontneed" and c["result"] != "skip"]
check(dn and all(c["result"] == "control-detected" and
                 "device wrote into a page the parent no longer maps" in c["diagnosis"]
                 for c in dn),
      f"control-dontneed detected as lost DMA in all {len(dn)} runs",
      [f"{c['id']}: {c['result']}: {c['diagnosis']}" for c in dn])
check("verbs" in env.get("ofi.providers", "") and "(pins)" in env.get("ofi.rma_providers", ""),
      "the fingerprint lists the verbs provider as pinning: "
      + env.get("ofi.rma_providers", "missing"))
check(env.get("ofi.env.FI_EFA_FORK_SAFE") is not None and env.get("ofi.libfabric"),
      f"the fingerprint has libfabric {env.get('ofi.libfabric')} and the fork variables")
durations = sorted(c["duration_s"] for c in ran)
if durations:
    print(f"# guest kernel {env.get('kernel.release')}: {len(ran)} cases, median "
          f"{durations[len(durations) // 2]:.2f} s, total {sum(durations):.1f} s")
open(sys.argv[3], "w").write(str(n))
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || tap_fail=$((tap_fail + 1))
tap_n=$(cat "$tmp/n")
tap_done
