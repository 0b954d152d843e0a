"""How long `medlethe --help` and `medlethe plugins` take (target: under 2 s)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def timed(args: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "medlethe", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    for args in (["--help"], ["plugins"], ["tasks"]):
        print(f"medlethe {' '.join(args):10s} median {timed(args):.3f} s")
