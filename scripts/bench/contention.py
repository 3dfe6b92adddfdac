#!/usr/bin/env python3
"""Runs a command and says how much of the machine others used meanwhile, for benchmarks on a shared
machine: CPU seconds of all processes (/proc/stat) minus the command's own (its rusage), over the
wall time. The command's stdout passes through; the JSON goes to FILE.
  contention.py FILE command [args...]
FILE: {"wall_s", "own_cpu_s", "other_cpu_s", "other_cores_busy"} (other_cores_busy: the mean number
of cores others kept busy; near 0 on a quiet machine)."""
import json
import os
import resource
import subprocess
import sys
import time


def busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


out, cmd = sys.argv[1], sys.argv[2:]
b0, t0 = busy_s(), time.time()
rc = subprocess.call(cmd)
b1, t1 = busy_s(), time.time()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
own = ru.ru_utime + ru.ru_stime
wall = t1 - t0
with open(out, "w") as f:
    json.dump({"wall_s": round(wall, 3), "own_cpu_s": round(own, 3), "other_cpu_s": round(max(0.0, b1 - b0 - own), 3),
               "other_cores_busy": round(max(0.0, b1 - b0 - own) / wall, 3)}, f)
sys.exit(rc)
