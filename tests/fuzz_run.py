"""`make fuzz`: many seeded mutants per reader, each reader in a child process capped in memory, every case
watched for time, and a table of outcomes. A child that dies (out of memory, a crash) or stops answering
is recorded against the case it was on and restarted on the next one.

    python -m tests.fuzz_run [--cases 10000] [--seed N] [--memory-gb 2] [--timeout 30]

Outcomes: documented error (the reader's own error type, naming the file, bounded) | valid (a result whose
values are finite and sane) | other exception | garbage accepted (a check failed) | memory | hang | crash.
Only the first two are acceptable: the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OK = ("documented error", "valid")


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def worker(reader: str, start: int, stop: int, seed: int, memory_gb: float) -> None:
    """Child: one JSON line per case, flushed, so the parent knows which case was under way."""
    from tests import fuzz_cases as fc
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "xdg-data")
    spec = fc.special_readers(tmp) if reader == "special" else fc.readers(tmp)[reader]
    # The cap counts from what the imports already mapped (torch maps a lot of address space up front).
    limit = _vm_bytes() + int(memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for i in range(start, stop):
        print(json.dumps({"i": i, "start": True}), flush=True)
        try:
            outcome = fc.run_case(reader, spec, i, seed)
        except MemoryError:
            outcome = "memory"
        except AssertionError:
            outcome = "garbage accepted"
        except Exception as exc:  # noqa: BLE001 - this is what the run is counting
            outcome = f"other exception: {type(exc).__name__}"
        print(json.dumps({"i": i, "outcome": outcome}), flush=True)


def run_reader(reader: str, cases: int, seed: int, memory_gb: float, timeout: float) -> Counter:
    counts: Counter = Counter()
    i = 0
    while i < cases:
        cmd = [sys.executable, "-m", "tests.fuzz_run", "--worker", reader, str(i), str(cases), str(seed),
               str(memory_gb)]
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in child.stdout] + [lines.put(None)], daemon=True).start()
        current, deadline = None, time.monotonic() + 120  # the first case also waits for the imports
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                child.kill()
                child.wait()
                counts["hang"] += 1
                i = (current if current is not None else i) + 1
                break
            if line is None:  # the child ended: done, or died on case `current`
                rc = child.wait()
                if current is not None:
                    counts["memory" if rc in (-9, 137) else f"crash (exit {rc})"] += 1
                    i = current + 1
                elif rc != 0 and i < cases:
                    raise SystemExit(f"{reader}: the worker failed before its first case (exit {rc})")
                else:
                    i = cases
                break
            msg = json.loads(line)
            if msg.get("start"):
                current, deadline = msg["i"], time.monotonic() + timeout
            else:
                counts[msg["outcome"]] += 1
                current, i = None, msg["i"] + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        reader, start, stop, seed, mem = argv[1:6]
        worker(reader, int(start), int(stop), int(seed), float(mem))
        return 0
    from tests.fuzz_cases import READERS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000, help="in all, shared among the readers")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--memory-gb", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    args = p.parse_args(argv)
    per = -(-args.cases // len(READERS))
    columns = ("documented error", "valid")
    print(f"| reader | cases | {' | '.join(columns)} | anything else | seconds |")
    print("|---|---|" + "---|" * len(columns) + "---|---|")
    bad = 0
    for reader in READERS:
        t = time.perf_counter()
        counts = run_reader(reader, per, args.seed, args.memory_gb, args.timeout)
        other = {k: v for k, v in counts.items() if k not in OK}
        bad += sum(other.values())
        print(f"| {reader} | {sum(counts.values())} | {' | '.join(str(counts[c]) for c in columns)} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(other.items())) or 0} | {time.perf_counter() - t:.0f} |",
              flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
