"""Run a command and report its wall time and the peak memory of its whole process tree.

``python -m bench.tree_memory -- CMD ...`` samples, every ``--every`` seconds, the PSS (proportional
set size: shared pages split between the processes mapping them, so Ray's shared-memory object store
is counted once) of the command and every descendant (for Ray: the GCS, the raylet, the workers),
and prints one JSON line: seconds, peak_pss_mib, peak_rss_mib (largest single process), processes,
cpu_s (user + system CPU seconds of every process seen, as last sampled: what the work cost, apart
from how much of the machine it could get).
Used for the embed-batch figures of docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _kib(pid: int, key: str, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_pss = peak_rss = processes = 0
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        pids = _tree(proc.pid)
        for pid in pids:
            cpu[pid] = max(cpu.get(pid, 0.0), _cpu_s(pid))
        peak_pss = max(peak_pss, sum(_kib(p, "Pss:", "smaps_rollup") for p in pids))
        peak_rss = max(peak_rss, *(_kib(p, "VmRSS:", "status") for p in pids))
        processes = max(processes, len(pids))
        time.sleep(args.every)
    result = {
        "seconds": round(time.perf_counter() - started, 1),
        "returncode": proc.returncode,
        "peak_pss_mib": round(peak_pss / 1024),
        "peak_rss_mib": round(peak_rss / 1024),
        "processes": processes,
        "cpu_s": round(sum(cpu.values()), 1),
    }
    print(json.dumps(result), file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
