#!/usr/bin/env python3
"""Signals to `forkpin vm` while its guest runs: SIGINT, SIGTERM and SIGHUP sent to forkpin vm
alone (as a batch system stops a job's main process, not a terminal's whole group) end it
with 128 + the signal, and neither QEMU nor setup/vm/run nor their temporary directories
left. While the guest boots no case has run: no report is written over the previous one.
Once cases have run (SIGTERM mid-run), the cases the guest streamed come back as reports
marked incomplete that name the case running, and TAP ends with Bail out!. A guest that
does not finish (the VM timeout fires mid-run, as for a hung guest) brings its cases back
the same way and exits 3. SIGKILL (nothing can be caught) still takes QEMU down:
setup/vm/run follows its parent (PR_SET_PDEATHSIG).

usage: vm_signals.py FORKPIN   (suite vm: it boots the test VM, briefly). Prints TAP.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (done, incomplete_reports_ok, leftovers, load_json,  # noqa: E402
                      load_junit, marked_env, ok)

FORKPIN = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="forkpin-fault-vm-")


def temp_dirs(tag):
    """The temporary directories of the tagged processes: forkpin vm's --out for
    setup/vm/run, and setup/vm/run's own (QEMU's console log lives there)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"FORKPIN_FAULT_TAG={tag}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for i, a in enumerate(args):
            if a == "--out" and i + 1 < len(args):
                found.add(args[i + 1])
            m = re.search(r"file:(/[^,]*/forkpin-vm\.[^/,]+)/console\.log", a)
            if m:
                found.add(m.group(1))
    return found


def qemu_running(tag):
    for pid in leftovers(tag):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("qemu-system"):
                    return True
        except OSError:
            pass
    return False


def start_guest(tag, json_path):
    """forkpin vm with a short selection; returns once QEMU runs (or None on timeout)."""
    p = subprocess.Popen([FORKPIN, "vm", "--vm-timeout", "300", "-b", "vmsplice", "-m", "anon",
                          "--json", json_path], env=marked_env(tag),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 300  # a cold kernel cache downloads first
    while time.monotonic() < end and p.poll() is None:
        if qemu_running(tag):
            time.sleep(2)  # the guest is booting
            return p, temp_dirs(tag)
        time.sleep(0.2)
    return p, None


def stopped(sig):
    name = signal.Signals(sig).name
    tag = "vm-" + name
    j = os.path.join(TMP, name + ".json")
    with open(j, "w") as f:
        f.write('{"previous": true}\n')
    p, dirs = start_guest(tag, j)
    if dirs is None:
        p.kill()
        ok(False, f"{name}: QEMU started", p.stderr.read().decode()[-500:])
        return
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    err = err.decode()
    took = time.monotonic() - t0
    ok(p.returncode == 128 + sig,
       f"{name} to forkpin vm: exit {128 + sig} ({p.returncode}) in {took:.1f} s", err[-600:])
    ok(f"interrupted by {name}" in err, f"{name}: stderr says the guest run is incomplete",
       err[-300:])
    ok(load_json(j) == {"previous": True}, f"{name}: the previous report is kept")
    time.sleep(0.5)
    ok(not leftovers(tag), f"{name}: no QEMU, setup/vm/run or forkpin left {leftovers(tag)}")
    left = [d for d in dirs if os.path.exists(d)]
    ok(len(dirs) == 2 and not left, f"{name}: both temporary directories removed {left}")


def stream_cases(dirs):
    """Case lines in the stream the guest writes to setup/vm/run's share."""
    n = 0
    for d in dirs:
        try:
            with open(os.path.join(d, "share/out/forkpin.json.partial")) as f:
                n += sum('"result": ' in line for line in f)
        except OSError:
            pass
    return n


def incomplete_run(tag, args, why, sig=None):
    """forkpin vm on the whole vfio row (minutes under TCG), stopped after a few cases by
    @sig, or by its own --vm-timeout: the cases done come back, marked incomplete."""
    j, x = os.path.join(TMP, tag + ".json"), os.path.join(TMP, tag + ".xml")
    for path in (j, x):
        with open(path, "w") as f:
            f.write("previous\n")
    # -j 1: the serial row takes minutes under TCG (forkpin vm's default -j finishes it
    # within the timeout below, and then nothing is cut short)
    p = subprocess.Popen([FORKPIN, "vm", *args, "-j", "1", "-b", "vfio", "--json", j, "--junit", x],
                         env=marked_env(tag), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dirs, seen, end = set(), 0, time.monotonic() + 400
    while sig and time.monotonic() < end and p.poll() is None and seen < 3:
        dirs |= temp_dirs(tag)
        seen = stream_cases(dirs)
        time.sleep(0.5)
    if sig:
        p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=90 if sig else 600)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    want = 128 + sig if sig else 3
    ok(p.returncode == want, f"{tag}: exit {want} ({p.returncode}) after {seen} cases seen",
       err[-600:])
    rep, suite = load_json(j), load_junit(x)
    if sig:
        good, detail, n = incomplete_reports_ok(j, x, signal.Signals(sig).name)
    else:  # no signal: "interrupted" is the reason, the JUnit error's type "incomplete"
        errors = [] if isinstance(suite, str) else [
            e for t in suite.findall("testcase") if t.get("classname") == "forkpin.run"
            for e in t.findall("error")]
        good = (isinstance(rep, dict) and rep.get("complete") is False and
                rep.get("interrupted", "").startswith(why) and rep["totals"]["exit_code"] != 0
                and [e.get("type") for e in errors] == ["incomplete"])
        detail, n = (rep, 0) if isinstance(rep, str) else (rep.get("interrupted"),
                                                           len(rep.get("cases", [])))
    ok(good and n >= max(seen, 1), f"{tag}: JSON and JUnit incomplete, with {n} cases done",
       detail)
    stopped = rep.get("stopped", "") if isinstance(rep, dict) else ""
    cases = rep.get("cases", []) if isinstance(rep, dict) else []
    # Stopped while a case ran, the report names it; stopped in the hand-over between two
    # cases (rare: CI saw it once at load), none ran, and it says how many were done: both are
    # right, and which one a run gets is timing.
    ok((re.search(r" during \S+/\S+/\S+", stopped) or
        re.search(rf" after {len(cases)} of \d+ cases$", stopped)) and
       (sig or stopped.startswith(why)),
       f"{tag}: the report says why and names the case running, or the cases done: {stopped}")
    ok(not isinstance(suite, str) and suite.get("tests") == str(len(cases) + 1) and
       all(c.get("id") and c.get("result") for c in cases),
       f"{tag}: every case whole, the JUnit suite has them and the error")
    ok(f"Bail out! {stopped}" in out, f"{tag}: TAP ends with Bail out!", out[-300:])
    time.sleep(0.5)
    ok(not leftovers(tag), f"{tag}: no QEMU, setup/vm/run or forkpin left {leftovers(tag)}")


def killed():
    tag = "vm-SIGKILL"
    p, dirs = start_guest(tag, os.path.join(TMP, "kill.json"))
    if dirs is None:
        p.kill()
        ok(False, "SIGKILL: QEMU started", p.stderr.read().decode()[-500:])
        return
    p.kill()
    p.communicate()
    end = time.monotonic() + 30
    while leftovers(tag) and time.monotonic() < end:
        time.sleep(0.2)
    ok(not leftovers(tag), f"SIGKILL to forkpin vm: QEMU and setup/vm/run follow {leftovers(tag)}")
    # forkpin vm's own --out directory cannot be removed by a killed process: only
    # setup/vm/run's (with the guest's files) is checked.
    left = [d for d in dirs if os.path.exists(d) and "forkpin-vm." in d]
    ok(not left, f"SIGKILL: setup/vm/run's temporary directory removed {left}")
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


if not shutil.which("qemu-system-x86_64"):
    print("1..0 # SKIP qemu-system-x86_64 not installed (apt-get install qemu-system-x86)")
    sys.exit(77)
stopped(signal.SIGINT)
stopped(signal.SIGTERM)
stopped(signal.SIGHUP)
incomplete_run("vm-SIGTERM-mid-run", ["--vm-timeout", "600"], None, signal.SIGTERM)
incomplete_run("vm-timeout-mid-run", ["--vm-timeout", "120"],
               "guest did not finish within 120 s")
killed()
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(done())
