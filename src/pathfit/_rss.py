"""The peak resident memory of this process, as the process itself reached it."""

from __future__ import annotations

import resource
import sys


def peak_rss() -> int:
    """Bytes: VmHWM from /proc/self/status on Linux, else getrusage's ru_maxrss.

    Not ru_maxrss on Linux: the kernel carries it across exec, so a process started by a big
    one (a benchmark harness, a pytest worker) reports its parent's size at the fork instead
    of its own peak (a 0.43 GB run read as 0.75 GB).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
