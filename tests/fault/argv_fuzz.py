#!/usr/bin/env python3
"""A bounded argv fuzzer for forkpin: random argument vectors built from the real command
words, option names (the backends' too, read from --help) and memtype/scenario names, mixed
with hostile values. Each must exit 0, 1, 2 or 4 (130 when the fuzzer interrupted a run that
went on too long), never crash or trip a sanitizer, and every report it writes must parse.

usage: argv_fuzz.py FORKPIN [COUNT]   (FORKPIN_ASAN_BIN, if set, is fuzzed instead;
       FORKPIN_FUZZ_SEED picks the sequence, printed at the start.) Bounded by COUNT
       (default 300) and by a 24 s budget: on a loaded machine it stops early and says so.
Prints TAP: one line per 25 vectors, and one per vector that fails.
"""
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import done, load_json, load_junit, ok  # noqa: E402

FORKPIN = os.environ.get("FORKPIN_ASAN_BIN") or sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 300
SEED = int(os.environ.get("FORKPIN_FUZZ_SEED", "1312"))
RUN_LIMIT_S = 0.6  # a run still going then is interrupted: that is a path to test too
OTHER_LIMIT_S = 10  # list, env, usage errors: never that long
BUDGET_S = 24  # the whole test stays under 30 s on a loaded machine: stop early, say so
SANITIZER_EXIT = 86
ENV = dict(os.environ, ASAN_OPTIONS="exitcode=86:detect_leaks=0",
           UBSAN_OPTIONS="halt_on_error=1:exitcode=86:print_stacktrace=1")
HOSTILE = ["", "-", "--", "=", "x" * 300, "\xe9t\xe9", "a,b,,c", "*", "../../etc/passwd",
           "-1", "0", "1e309", "nan", "0x10", "99999999999999999999", "%s%n", "\\", "'\"<&>"]


def learn_names():
    """Option names, memtypes, scenarios and backends from forkpin itself."""
    help_text = subprocess.run([FORKPIN, "--help"], capture_output=True, text=True,
                               env=ENV).stdout
    backend_opts = re.findall(r"^\s+--([a-z][a-z0-9-]*)( \S+)?  ", help_text, re.M)
    listing = subprocess.run([FORKPIN, "list"], capture_output=True, text=True, env=ENV).stdout
    ids = [line.split()[0] for line in listing.splitlines() if line.strip()]
    parts = [set(i.split("/")[k] for i in ids) for k in range(3)]
    return backend_opts, [sorted(p) for p in parts], ids


def value(rng, names):
    r = rng.random()
    if r < 0.5 and names:
        return ",".join(rng.sample(names, rng.randint(1, min(3, len(names)))))
    return rng.choice(HOSTILE) if r < 0.9 else rng.choice(names or ["x"]) + ",bogus"


def report_path(rng, tmp, used):
    r = rng.random()
    if r < 0.1 and used:
        return rng.choice(used)  # the same path twice: must be refused
    if r < 0.15:
        return os.path.join(tmp, "no-such-dir", "r")
    if r < 0.2:
        return "/dev/full"
    path = os.path.join(tmp, f"r{len(used)}")
    used.append(path)
    return path


def one_vector(rng, names, tmp):
    backend_opts, (backends, memtypes, scenarios), ids = names
    cmd = rng.choice(["run"] * 4 + ["list"] * 3 + ["env"] * 2 + ["lst", "--version", "help"])
    argv, used = [cmd], []
    if cmd == "run" and rng.random() < 0.85:
        # Keep most runs small (one memtype of the fast host backends) and reporting.
        argv += ["-b", rng.choice(["iouring", "vmsplice", "iouring,vmsplice"]),
                 "-m", rng.choice(memtypes)]
        if rng.random() < 0.6:
            argv += ["--json", report_path(rng, tmp, used), "--junit", report_path(rng, tmp, used)]
    for _ in range(rng.randint(0, 2 if used else 5)):
        kind = rng.random()
        if kind < 0.15:
            argv += [rng.choice(["-b", "--backend"]), value(rng, backends)]
        elif kind < 0.25:
            argv += [rng.choice(["-m", "--mem"]), value(rng, memtypes)]
        elif kind < 0.35:
            argv += [rng.choice(["-s", "--scenario"]), value(rng, scenarios)]
        elif kind < 0.5:
            flag = rng.choice(["--json", "--junit"])
            path = report_path(rng, tmp, used)
            argv += [f"{flag}={path}"] if rng.random() < 0.3 else [flag, path]
        elif kind < 0.6:
            argv += [rng.choice(["--timeout", "--seed", "--repeat"]),
                     rng.choice(["1", "0.5", "3", "2"] + HOSTILE)]
        elif kind < 0.7:
            name, arg = rng.choice(backend_opts)
            argv += [f"--{name}"] + ([value(rng, [])] if arg else [])
        elif kind < 0.8:
            argv.append(rng.choice(["-v", "--verbose", "-h", "--nope", "-q", "-b"]))
        else:
            argv.append(rng.choice(ids + ["*/anon/*", "[", "iouring/*/child-*"]))
    return argv


def run_vector(argv):
    p = subprocess.Popen([FORKPIN] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=ENV)
    interrupted = False
    try:
        _, err = p.communicate(timeout=RUN_LIMIT_S if argv[0] == "run" else OTHER_LIMIT_S)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        interrupted = True
        _, err = p.communicate(timeout=30)
    return p.returncode, err.decode(errors="replace"), interrupted


def check_reports(tmp):
    """Every report written parses; a .partial or .tmp is never left behind."""
    problems = []
    for path in glob.glob(os.path.join(tmp, "r*")):
        if path.endswith((".partial", ".tmp")):
            problems.append(f"left behind: {path}")
            continue
        with open(path, "rb") as f:
            head = f.read(6)
        parsed = load_junit(path) if head.startswith(b"<?xml") else load_json(path)
        if isinstance(parsed, str):
            problems.append(parsed)
    return problems


def main():
    rng = random.Random(SEED)
    names = learn_names()
    print(f"# seed {SEED}, {COUNT} vectors, binary {FORKPIN}")
    i, ran = -1, 0
    start, bad, batch_bad, codes, reports = time.monotonic(), 0, 0, {}, 0
    for i in range(COUNT):
        if time.monotonic() - start > BUDGET_S:
            print(f"# stopped after {i} vectors: the {BUDGET_S} s budget is spent")
            ok(batch_bad == 0, f"vectors up to {i}: exit codes allowed, reports parse")
            break
        ran += 1
        tmp = tempfile.mkdtemp(prefix="fuzz-")
        argv = one_vector(rng, names, tmp)
        code, err, interrupted = run_vector(argv)
        allowed = {0, 1, 2, 4} | ({130} if interrupted else set())
        problems = [] if code in allowed else [f"exit {code}"]
        if "Sanitizer" in err or "runtime error:" in err:
            problems.append("sanitizer report")
        problems += check_reports(tmp)
        codes[code] = codes.get(code, 0) + 1
        reports += len(glob.glob(os.path.join(tmp, "r*")))
        if problems:
            bad += 1
            batch_bad += 1
            ok(False, f"vector {i}: {' '.join(map(repr, argv))}",
               "; ".join(problems) + "\n" + err[-600:])
        shutil.rmtree(tmp, ignore_errors=True)
        if (i + 1) % 25 == 0 or i + 1 == COUNT:
            ok(batch_bad == 0, f"vectors up to {i + 1}: exit codes allowed, reports parse")
            batch_bad = 0
    print(f"# {ran} vectors in {time.monotonic() - start:.1f} s, {bad} failed; exit codes "
          f"{dict(sorted(codes.items()))}; {reports} reports parsed")
    return done()


if __name__ == "__main__":
    sys.exit(main())
