"""What the kernel says a running process costs: its proportional memory and its CPU time (Linux /proc).

PSS (proportional set size, ``/proc/PID/smaps_rollup``) splits each shared page
between the processes that map it, so summing it over a round's processes
counts the pages the launcher's forks share once, as RSS would not.  CPU time
is ``utime + stime`` of ``/proc/PID/stat`` in clock ticks.  A process that is
gone (or a kernel without these files) reads as None; callers say so.
"""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pss_kib(pid: int) -> int | None:
    """The process's PSS in KiB, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:  # after the name: state is field 3, utime 14 and stime 15 (proc(5)), so indexes 11 and 12 here
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (ValueError, IndexError):
        return None
