"""The CPUs this process may run on: what thread pools should be sized by."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs in this process's affinity mask (`taskset`, a container's cpuset), not the machine's count.

    `os.cpu_count()` counts the machine's CPUs: a run pinned to one core would start a thread per
    machine CPU on it. macOS and Windows have no affinity mask; there it is the machine's count.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
