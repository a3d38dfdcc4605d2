#!/usr/bin/env python3
"""Signals to `forkpin vm` while its guest runs: SIGINT, SIGTERM and SIGHUP sent to forkpin vm
alone (as a batch system stops a job's main process, not a terminal's whole group) end it
with 128 + the signal, no report written over the previous one, and neither QEMU nor
setup/vm/run nor their temporary directories left. SIGKILL (nothing can be caught) still
takes QEMU down: setup/vm/run follows its parent (PR_SET_PDEATHSIG).

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
from faultlib import done, leftovers, load_json, marked_env, ok  # noqa: E402

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
killed()
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(done())
