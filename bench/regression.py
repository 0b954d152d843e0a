"""Every metric value of three whole runs, recorded, then checked after a change that must
not move a number (issue 34 asks for it before task kinds move out of the core; issue 33's
move of training onto accelerate was checked the same way, by the tiny target's sha256).

    python bench/regression.py record      # writes bench/regression.json
    python bench/regression.py check       # reruns, compares, exits 1 on a difference

The runs: the demo (`tiny` on synthclinic/patient-10, every built-in method), STEU's
scenario (`tiny-bert` on synthclinic-notes/forget-class-oncology, training seed 0) and
Forget-MI's (`fusion-tiny` on synthclinic-cxr/patients-6pct, training seed 0), each with
`--seed 0`. Trained weights depend on the CPU's arithmetic, so a recording holds on the
machine that made it: compare before and after on one machine, with nothing else running.
``--tolerance`` (default 0: equal) allows float noise where a change reorders arithmetic.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("regression.json")
RUNS = {
    "demo": ("tiny", "synthclinic/patient-10", {}),
    "steu": ("tiny-bert", "synthclinic-notes/forget-class-oncology", {"seed": 0}),
    "forget-mi": ("fusion-tiny", "synthclinic-cxr/patients-6pct", {"seed": 0}),
}


def values(name: str) -> dict[str, Any]:
    """label -> "task|split|metric|subset" -> value, for one of the three runs."""
    from medlethe.run import run_pipeline
    from medlethe.training.pipeline import load_scenario, train_config

    model, scenario, overrides = RUNS[name]
    task = load_scenario(scenario)
    with tempfile.TemporaryDirectory() as tmp:
        out = run_pipeline(model, scenario, output=Path(tmp) / name, seed=0, echo=False,
                           train_config=train_config(model, overrides, task), progress=False)
        if out.summary["failures"]:
            raise SystemExit(f"{name}: failures {out.summary['failures']}")
        return {
            label: {f"{m.task}|{m.split}|{m.metric}|{m.subset or ''}": m.value
                    for m in run.results.metrics}
            for label, run in out.runs.items()
        }


def machine() -> dict[str, Any]:
    """What a recording holds on: the CPU, torch and its thread count."""
    import platform

    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "torch": torch.__version__, "threads": torch.get_num_threads()}


def differences(old: Any, new: Any, tol: float, where: str = "", *,
                added: bool = True) -> list[str]:
    """Every value recorded in ``old`` that ``new`` lost or changed beyond ``tol``; with
    ``added``, values ``new`` has and ``old`` had not (a metric added since) too."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = [f"{where}/{k}: missing after" for k in old if k not in new]
        found += [f"{where}/{k}: new after" for k in new if k not in old and added]
        for k in old.keys() & new.keys():
            found += differences(old[k], new[k], tol, f"{where}/{k}", added=added)
        return found
    if isinstance(old, float) and isinstance(new, float):
        if math.isnan(old) and math.isnan(new):
            return []
        return [] if abs(old - new) <= tol else [f"{where}: {old!r} -> {new!r}"]
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("record", "check"))
    ap.add_argument("--runs", default=",".join(RUNS))
    ap.add_argument("--tolerance", type=float, default=0.0)
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    args = ap.parse_args()
    names = args.runs.split(",")
    found = {name: values(name) for name in names}
    if args.action == "record":
        args.fixture.write_text(json.dumps({**found, "machine": machine()}, indent=1,
                                           sort_keys=True))
        n = sum(len(v) for run in found.values() for v in run.values())
        print(f"recorded {n} values of {len(names)} runs in {args.fixture}")
        return 0
    recorded = json.loads(args.fixture.read_text())
    problems = []
    for name in names:
        problems += differences(recorded.get(name), found[name], args.tolerance, name)
    for line in problems[:50]:
        print(line)
    n = sum(len(v) for run in found.values() for v in run.values())
    print(f"{n} values compared, {len(problems)} differ (tolerance {args.tolerance})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
