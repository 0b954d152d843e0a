"""How ``medlethe evaluate`` grows with the data: synthclinic at fractions of AMNESIA's scale
(8,820 patients, 70,560 QA), the ``tiny`` model, every split of ``patient-10``.

    python bench/eval_scale.py [--fractions 0.01,0.1,1] [--out bench/eval_scale.json]

Per size, two fresh processes under ``/usr/bin/time``: ``medlethe evaluate`` with an empty
response cache (the model answers every request), then the same command again (every
response from the cache: what is left is reading the task, scoring, bootstraps and writing
results). Wall seconds and peak resident memory of each, and the number of rows. The tiny
model is the untrained base built from the pack's corpus: it never stops early, so every
answer runs to the token limit (the worst case for generation). Writes JSON and a Markdown
table; ``--plot`` also saves time against size as an SVG for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FULL_PATIENTS = 8820
FULL_HOLDOUT = 880


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one command, from GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *cmd], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"eval_scale: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    found = re.findall(r"TIME ([\d.]+) (\d+)", out.stderr)[-1]
    return float(found[0]), int(found[1]) / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fractions", default="0.01,0.1,1")
    ap.add_argument("--scenario", default="synthclinic/patient-10")
    ap.add_argument("--out", default=str(Path(__file__).with_name("eval_scale.json")))
    ap.add_argument("--plot", help="also write time against size to this SVG")
    ap.add_argument("--model", default="tiny", help="tiny (default), smollm2-135m or a folder")
    ap.add_argument("--backend", default="hf")
    ap.add_argument("--backend-args", default="", help="K=V,... for the backend")
    args = ap.parse_args()
    from medlethe.base_models import resolve_base_model
    from medlethe.training.pipeline import load_scenario

    rows = []
    work = Path(tempfile.mkdtemp(prefix="medlethe-scale-"))
    for frac in (float(f) for f in args.fractions.split(",")):
        n, hold = max(1, round(FULL_PATIENTS * frac)), max(1, round(FULL_HOLDOUT * frac))
        targs = {"n_patients": n, "n_holdout": hold}
        task = load_scenario(args.scenario, targs)
        model = (resolve_base_model(args.model, task) if not Path(args.model).is_dir()
                 else args.model)
        n_rows = sum(len(task.docs(s)) for s in task.split_names())
        cache = work / f"responses-{n}.sqlite"
        cmd = [sys.executable, "-m", "medlethe", "evaluate", "--model", model, "--tasks",
               args.scenario, "--task-args", f"n_patients={n},n_holdout={hold}",
               "--output", str(work / f"out-{n}"), "--cache", str(cache),
               "--backend", args.backend]
        if args.backend_args:
            cmd += ["--backend-args", args.backend_args]
        env = {**os.environ, "TQDM_DISABLE": "1"}
        full = timed(cmd, env)
        scoring = timed(cmd, env)
        rows.append({"fraction": frac, "patients": n, "rows": n_rows,
                     "evaluate_s": full[0], "evaluate_peak_gb": round(full[1], 2),
                     "cached_s": scoring[0], "cached_peak_gb": round(scoring[1], 2)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    Path(args.out).write_text(json.dumps({"model": args.model, "backend": args.backend,
                                          "rows": rows}, indent=2) + "\n")
    print("| AMNESIA scale | patients | rows scored | evaluate s | peak GB | cached: s | "
          "cached: peak GB | s per 1,000 rows (evaluate, cached) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        per = (1000 * r["evaluate_s"] / r["rows"], 1000 * r["cached_s"] / r["rows"])
        print(f"| {r['fraction']:.0%} | {r['patients']} | {r['rows']} | {r['evaluate_s']:.0f} | "
              f"{r['evaluate_peak_gb']:.2f} | {r['cached_s']:.0f} | {r['cached_peak_gb']:.2f} | "
              f"{per[0]:.1f}, {per[1]:.1f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        xs = [r["rows"] for r in rows]
        ax.loglog(xs, [r["evaluate_s"] for r in rows], "o-", label="evaluate (model answers)")
        ax.loglog(xs, [r["cached_s"] for r in rows], "s-", label="cached responses (scoring)")
        ax.loglog(xs, [rows[0]["evaluate_s"] * x / xs[0] for x in xs], ":", color="gray",
                  label="linear from the smallest")
        ax.set_xlabel("rows scored")
        ax.set_ylabel("seconds")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
