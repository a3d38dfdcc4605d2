#!/usr/bin/env python3
"""`forkpin run` under resource limits an admin or a batch system sets: a memory cgroup's limit,
`ulimit -l` (RLIMIT_MEMLOCK) and `ulimit -v` (RLIMIT_AS). Whatever the limit takes away must
show as a SKIP or an error with its reason, never as a data FAIL (a mismatch outside the
negative controls), never as a crash of forkpin: the report is written and complete.

usage: limits.py FORKPIN   (memcg needs root and a writable memory controller, the
RLIMIT_MEMLOCK check needs `setpriv` when run as root: otherwise those parts SKIP). Prints TAP.
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import done, load_json, ok  # noqa: E402

FORKPIN = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="forkpin-fault-limits-")
os.chmod(TMP, 0o777)  # the RLIMIT_MEMLOCK runs write here as nobody
SELECTION = ["-b", "iouring,vmsplice", "-m", "anon,thp-pmd,memfd,hugetlb-2m", "--timeout", "20"]


def skip(what, why):
    ok(True, f"{what} # SKIP {why}")


def verdicts_honest(name, json_path, p):
    """The run ended on its own with a complete report, and nothing the limit took away reads
    as a data failure."""
    err = p.stderr.decode(errors="replace")
    ok(p.returncode in (0, 1, 4), f"{name}: forkpin ends on its own (exit {p.returncode})",
       err[-400:])
    rep = load_json(json_path)
    if isinstance(rep, str):
        ok(False, f"{name}: a complete report", rep)
        return []
    cases = rep["cases"]
    seen = collections.Counter(c["status"] for c in cases)
    false_fail = [c for c in cases if c["status"] == "mismatch" and not c["control"]]
    odd = [c for c in cases if c["status"] not in ("pass", "skip", "error", "signal", "mismatch")]
    ok(rep.get("complete") is True and cases, f"{name}: a complete report, {dict(seen)}")
    ok(not false_fail and not odd, f"{name}: no data FAIL outside the controls",
       "\n".join(f"{c['id']}: {c['status']}: {c['diagnosis'][:150]}" for c in false_fail + odd))
    return cases


def memory_cgroup():
    """A new child of this process's memory cgroup: (directory, limit file), or a reason."""
    if os.geteuid() != 0:
        return None, "not root: cannot make a memory cgroup"
    with open("/proc/self/cgroup") as f:
        entries = [line.rstrip("\n").split(":", 2) for line in f]
    v1 = [path for _, ctrl, path in entries if "memory" in ctrl.split(",")]
    name = f"forkpin-fault-{os.getpid()}"
    if v1 and os.path.isdir("/sys/fs/cgroup/memory"):
        d = os.path.join("/sys/fs/cgroup/memory" + v1[0], name)
        limit = "memory.limit_in_bytes"
    else:
        v2 = [path for _, ctrl, path in entries if ctrl == ""]
        base = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") \
            else "/sys/fs/cgroup/unified"
        if not v2 or not os.path.exists(os.path.join(base, "cgroup.controllers")):
            return None, "no memory cgroup controller mounted"
        parent = base + v2[0]
        try:
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                if "memory" not in f.read().split():
                    return None, f"memory is not enabled for the children of {parent}"
        except OSError as e:
            return None, str(e)
        d, limit = os.path.join(parent, name), "memory.max"
    try:
        os.mkdir(d)
    except OSError as e:
        return None, f"cannot make {d}: {e}"
    return d, os.path.join(d, limit)


def remove_cgroup(d):
    for _ in range(50):
        try:
            os.rmdir(d)
            return
        except OSError:
            time.sleep(0.1)


def memcg():
    """8 MiB for forkpin and its cases: the OOM killer takes cases (forkpin raises their
    oom_score_adj), and those read as errors naming the signal."""
    d, limit = memory_cgroup()
    if not d:
        skip("memcg: forkpin run under a memory cgroup limit", limit)
        return
    try:
        with open(limit, "w") as f:
            f.write(str(8 << 20))
        j = os.path.join(TMP, "memcg.json")
        p = subprocess.run(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', d,
                           FORKPIN, "run", *SELECTION, "--json", j], capture_output=True,
                           timeout=300)
        cases = verdicts_honest("memcg 8 MiB", j, p)
        killed = [c for c in cases if c["status"] == "signal"]
        ok(all("signal 9" in c["diagnosis"] for c in killed),
           f"memcg 8 MiB: the {len(killed)} cases the OOM killer took are errors naming SIGKILL")
    finally:
        remove_cgroup(d)


def memlock():
    """RLIMIT_MEMLOCK below what a case pins: refused before anything runs (exit 2, naming the
    `ulimit -l` that fits); at that value, the run goes. Root's CAP_IPC_LOCK ignores the
    limit, so as root the runs are made as nobody."""
    drop = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            skip("ulimit -l", "root ignores RLIMIT_MEMLOCK and setpriv is missing")
            return
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    j = os.path.join(TMP, "memlock.json")
    p = subprocess.run(["sh", "-c", 'ulimit -l 64 && exec "$@"', "sh", *drop, FORKPIN, "run",
                        *SELECTION, "--json", j], capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    ok(p.returncode == 2 and "ulimit -l" in err and not os.path.exists(j),
       f"ulimit -l 64: refused before any case, naming the limit that fits (exit {p.returncode})",
       err)
    need = re.search(r"ulimit -l (\d+)", err)
    fit = need.group(1) if need else "4096"
    p = subprocess.run(["sh", "-c", f'ulimit -l {fit} && exec "$@"', "sh", *drop, FORKPIN,
                        "run", *SELECTION, "--json", j], capture_output=True, timeout=300)
    verdicts_honest(f"ulimit -l {fit}", j, p)


def address_space():
    """RLIMIT_AS of 5 MB: most buffers cannot be mapped; the hugetlb SKIPs name the limit,
    not the pool."""
    j = os.path.join(TMP, "as.json")
    p = subprocess.run(["sh", "-c", 'ulimit -v 5000 && exec "$@"', "sh", FORKPIN, "run",
                        *SELECTION, "--json", j], capture_output=True, timeout=300)
    cases = verdicts_honest("ulimit -v 5000", j, p)
    huge = [c for c in cases if c["memtype"] == "hugetlb-2m" and c["status"] == "skip"
            and "raise" in c["diagnosis"] and "nr_hugepages" in c["diagnosis"]]
    what = "ulimit -v 5000: no hugetlb SKIP blames the pool when the limit refused it"
    free = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
    try:
        pool_free = int(open(free).read())
    except OSError:
        pool_free = 0
    if pool_free == 0:  # an empty pool is the right reason then (setup/test reserves pages)
        skip(what, "the 2 MiB pool has no free page here")
        return
    ok(not huge, what, "\n".join(c["diagnosis"][:200] for c in huge[:3]))


memcg()
memlock()
address_space()
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(done())
