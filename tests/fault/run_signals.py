#!/usr/bin/env python3
"""Signals and faults at several points of `forkpin run`: every way it is stopped ends in
valid JSON and JUnit reports marked incomplete and a non-zero exit, with no process left.

usage: run_signals.py FORKPIN
- SIGINT pending when forkpin starts (it arrives as the env is collected): 0 cases, 130;
- SIGINT, SIGTERM, SIGHUP mid-run: 128 + signal, some cases, reports incomplete (SIGINT also
  with -j 3: every case running killed);
- `forkpin run | head`: the closed pipe (SIGPIPE) keeps the JSON/JUnit files;
- SIGKILL mid-run: the previous report survives, FILE.partial holds the cases done so far
  (with -j 3 too, each case line after its running line);
- env --json /dev/full fails, --json X --junit X is refused, a stale FILE.partial goes;
- results that cannot be recorded (no memory for them) fail the run, never tests="0";
- `forkpin forkcost` stopped by SIGINT/TERM/HUP after its first row: 128 + signal, the table,
  JSON and CSV say it is incomplete, no forked child left.
Prints TAP.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import done, incomplete_reports_ok, leftovers, load_json, marked_env, ok  # noqa: E402

FORKPIN = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="forkpin-fault-")
# Fast host cases, repeated so that a run lasts long enough to be interrupted mid-way.
LONG_RUN = ["run", "-b", "iouring,vmsplice", "-m", "anon", "--repeat", "400", "--timeout", "5"]


def paths(name):
    return os.path.join(TMP, name + ".json"), os.path.join(TMP, name + ".xml")


def start(args, tag, **kw):
    return subprocess.Popen([FORKPIN] + args, env=marked_env(tag), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def wait_for_cases(json_path, n, limit=20.0):
    """Wait until FILE.partial holds @n cases (the run is mid-way)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with open(json_path + ".partial") as f:
                if sum(1 for line in f if '"result"' in line) >= n:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def pending_sigint_at_start():
    """Blocked and pending across exec: delivered when forkpin installs its handlers, just
    before it collects the env, so the signal lands in the env collection."""
    j, x = paths("env-sigint")

    def block_and_raise():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        os.kill(os.getpid(), signal.SIGINT)

    p = start(LONG_RUN + ["--json", j, "--junit", x], "env-sigint", preexec_fn=block_and_raise)
    out, err = p.communicate(timeout=60)
    ok(p.returncode == 130, f"SIGINT during the env: exit 130 ({p.returncode})", err.decode())
    good, detail, n = incomplete_reports_ok(j, x, "SIGINT")
    ok(good and n == 0, f"SIGINT during the env: both reports incomplete, 0 cases ({n})", detail)
    ok(b"Bail out! interrupted by SIGINT" in out, "SIGINT during the env: TAP bails out")
    ok(not leftovers("env-sigint"), "SIGINT during the env: no process left")


def mid_run(sig, code, jobs=()):
    """@jobs: ["-j", "3"]: several cases running when the signal comes, all killed."""
    name = signal.Signals(sig).name + (" -j" if jobs else "")
    j, x = paths("mid-" + name.replace(" ", ""))
    p = start(LONG_RUN + list(jobs) + ["--json", j, "--junit", x], "mid-" + name)
    ok(wait_for_cases(j, 3), f"{name} mid-run: the run got going (.partial grows)")
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    ok(p.returncode == code, f"{name} mid-run: exit {code} ({p.returncode})", err.decode())
    good, detail, n = incomplete_reports_ok(j, x, signal.Signals(sig).name)
    ok(good and 0 < n < 800, f"{name} mid-run: both reports incomplete with the {n} cases done",
       detail)
    ok(f"Bail out! interrupted by {signal.Signals(sig).name}".encode() in out,
       f"{name} mid-run: TAP bails out")
    ok(not os.path.exists(j + ".partial") and not os.path.exists(j + ".tmp"),
       f"{name} mid-run: no .partial or .tmp left beside the report")
    ok(not leftovers("mid-" + name), f"{name} mid-run: no process left")


def head_closes_pipe():
    j, x = paths("pipe")
    p = start(LONG_RUN + ["--json", j, "--junit", x], "pipe")
    p.stdout.readline()
    p.stdout.readline()
    p.stdout.close()  # as `| head -2` exits
    p.wait(timeout=60)
    ok(p.returncode == 128 + signal.SIGPIPE, f"| head: exit 141 ({p.returncode})")
    good, detail, n = incomplete_reports_ok(j, x, "SIGPIPE")
    ok(good, f"| head: both reports kept, incomplete, {n} cases", detail)
    ok(not leftovers("pipe"), "| head: no process left")


def sigkill_keeps_previous():
    j, x = paths("kill")
    with open(j, "w") as f:
        f.write('{"previous": true}\n')
    p = start(LONG_RUN + ["--json", j, "--junit", x], "kill")
    ok(wait_for_cases(j, 5), "SIGKILL: the run got going")
    p.kill()
    p.communicate(timeout=60)
    ok(load_json(j) == {"previous": True}, "SIGKILL: the previous report is untouched")
    with open(j + ".partial") as f:
        lines = [json.loads(line) for line in f]
    ok(lines[0].get("partial") is True and "kernel.release" in lines[0]["env"],
       "SIGKILL: FILE.partial starts with its header and the env")
    done = [c for c in lines[1:] if "result" in c]
    running = [c["running"] for c in lines[1:] if "running" in c]
    ok(len(done) >= 5 and all("id" in c for c in done) and
       len(lines) == 1 + len(done) + len(running),
       f"SIGKILL: FILE.partial holds the {len(done)} cases done, one per line")
    ok(len(running) in (len(done), len(done) + 1) and
       running[:len(done)] == [c["id"] for c in done],
       "SIGKILL: each case is named as it starts ({\"running\": ID}), the last one even "
       "when it never finished")
    time.sleep(0.2)  # the case process follows its parent (PR_SET_PDEATHSIG)
    ok(not leftovers("kill"), "SIGKILL: no process left")
    # With -j 3 cases end in any order: each case line still follows its running line. (The
    # killed run's stream goes first: waiting on it would see its cases, not the new run's.)
    os.remove(j + ".partial")
    p = start(LONG_RUN + ["-j", "3", "--json", j, "--junit", x], "kill-j")
    ok(wait_for_cases(j, 5), "SIGKILL -j 3: the run got going")
    p.kill()
    p.communicate(timeout=60)
    with open(j + ".partial") as f:
        lines = [json.loads(line) for line in f]
    seen, ordered = set(), True
    for c in lines[1:]:
        if "running" in c:
            seen.add(c["running"])
        else:
            ordered &= c["id"] in seen
    ok(lines[0].get("partial") is True and ordered and len(lines) > 6,
       f"SIGKILL -j 3: FILE.partial is JSON lines, each case after its running line "
       f"({len(lines) - 1} lines)")
    time.sleep(0.2)
    ok(not leftovers("kill-j"), "SIGKILL -j 3: no process left")
    # The next run removes the stale stream and, complete, leaves none.
    p = start(["run", "-b", "vmsplice", "-m", "anon", "--json", j, "--junit", x], "after-kill")
    p.communicate(timeout=60)
    rep = load_json(j)
    ok(not isinstance(rep, str) and rep.get("complete") is True
       and not os.path.exists(j + ".partial"),
       "a complete run replaces the report and leaves no .partial", rep)


def write_errors():
    p = subprocess.run([FORKPIN, "env", "--json", "/dev/full"], capture_output=True)
    ok(p.returncode != 0 and b"/dev/full" in p.stderr,
       f"env --json /dev/full: exit {p.returncode} with a message", p.stderr.decode())
    p = subprocess.run([FORKPIN, "run", "-b", "vmsplice", "-m", "anon", "--json", "/dev/full"],
                       capture_output=True)
    ok(p.returncode == 1 and b"writing a report failed" in p.stderr,
       f"run --json /dev/full: exit {p.returncode} with a message", p.stderr.decode())
    same = os.path.join(TMP, "same")
    p = subprocess.run([FORKPIN, "run", "--json", same, "--junit", os.path.join(TMP, ".", "same")],
                       capture_output=True)
    ok(p.returncode == 2 and not os.path.exists(same),
       f"--json X --junit ./X: exit 2 before anything runs ({p.returncode})", p.stderr.decode())
    good = os.path.join(TMP, "good.json")
    p = subprocess.run([FORKPIN, "run", "--json", good, "--junit", "/nonexistent/x.xml"],
                       capture_output=True)
    left = [f for f in os.listdir(TMP) if f.startswith("good.json")]
    ok(p.returncode == 2 and not left,
       f"a bad --junit after a good --json: exit 2, nothing left beside the JSON path {left}")


def symlinked_report():
    target, link = os.path.join(TMP, "run-42.json"), os.path.join(TMP, "latest.json")
    with open(target, "w") as f:
        f.write("{}\n")
    os.symlink("run-42.json", link)
    p = subprocess.run([FORKPIN, "run", "-b", "vmsplice", "-m", "anon", "--json", link],
                       capture_output=True)
    rep = load_json(link)
    ok(p.returncode == 0 and os.path.islink(link) and not isinstance(rep, str)
       and rep.get("complete") is True,
       "a report path that is a symlink stays one; the file it names gets the report",
       p.stderr.decode())


def results_cannot_be_recorded():
    """13 million cases with 2 GiB of address space: the cases fit, their results do not."""
    j, x = paths("nomem")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    p = subprocess.run([FORKPIN, "run", "-b", "iouring", "--repeat", "100000", "--json", j,
                        "--junit", x], capture_output=True, preexec_fn=limit, timeout=120)
    err = p.stderr.decode()
    if "AddressSanitizer" in err:
        print("# SKIP the no-memory check: a sanitizer build cannot run under RLIMIT_AS")
        return
    ok(p.returncode in (1, 2) and p.returncode != 0,
       f"no memory for the results: the run fails (exit {p.returncode})", err)
    ok(not os.path.exists(j) or load_json(j).get("complete") is False,
       "no memory for the results: no report that reads as complete", err)
    ok(b"cannot record results" in p.stdout or b"out of memory" in p.stderr
       or p.returncode == 2,
       "no memory for the results: TAP (or stderr, before any case) says why",
       p.stdout[-300:] + p.stderr[-300:])


def forkcost_stopped(sig):
    """forkcost measures row after row: a signal after the first one ends the table there."""
    name = signal.Signals(sig).name
    j, c = os.path.join(TMP, f"fc-{name}.json"), os.path.join(TMP, f"fc-{name}.csv")
    p = start(["forkcost", "-b", "iouring", "--mode", "unpinned,pinned", "--min-size", "4M",
               "--max-size", "512M", "--repeat", "3", "--json", j, "--csv", c], "fc-" + name)
    first = p.stderr.readline().decode()
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    ok(p.returncode == 128 + sig, f"forkcost {name}: exit {128 + sig} ({p.returncode})",
       first + err.decode())
    rep = load_json(j)
    ok(not isinstance(rep, str) and rep.get("complete") is False
       and rep.get("interrupted") == name and 0 < len(rep["rows"]) < 16,
       f"forkcost {name}: JSON complete=false, interrupted={name}, the rows measured", rep)
    with open(c) as f:
        last = f.read().splitlines()[-1]
    ok(",interrupted," in last and name in last,
       f"forkcost {name}: the CSV ends with an 'interrupted' row", last)
    ok(f"interrupted by {name}".encode() in out, f"forkcost {name}: the table says so")
    ok(not leftovers("fc-" + name), f"forkcost {name}: no process left")


def forkcost_complete():
    j = os.path.join(TMP, "fc-complete.json")
    p = subprocess.run([FORKPIN, "forkcost", "--mode", "unpinned", "--min-size", "4M",
                        "--max-size", "4M", "--repeat", "1", "--json", j], capture_output=True)
    rep = load_json(j)
    ok(p.returncode == 0 and not isinstance(rep, str) and rep.get("complete") is True
       and "interrupted" not in rep,
       f"forkcost not stopped: exit 0, JSON complete=true ({p.returncode})", p.stderr.decode())


pending_sigint_at_start()
mid_run(signal.SIGINT, 130)
mid_run(signal.SIGTERM, 143)
mid_run(signal.SIGHUP, 129)
mid_run(signal.SIGINT, 130, ["-j", "3"])
head_closes_pipe()
sigkill_keeps_previous()
write_errors()
symlinked_report()
results_cannot_be_recorded()
forkcost_complete()
forkcost_stopped(signal.SIGINT)
forkcost_stopped(signal.SIGTERM)
forkcost_stopped(signal.SIGHUP)
sys.exit(done())
