"""Measurement helpers shared by the benchmarks (stdlib only; imported as ``_measure``).

Each benchmark runs as ``python benchmarks/X.py``, so this directory is ``sys.path[0]`` for
it and for its children (a ``--child`` subprocess of the same script, or a ``spawn``
multiprocessing child, which inherits the parent's ``sys.path``).
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's own peak RSS in MB. VmHWM belongs to the current address space (reset
    by exec), so unlike ru_maxrss it does not inherit the (large) benchmark parent's RSS
    across fork+exec or a ``spawn`` start."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
