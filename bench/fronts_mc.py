"""A method's front on the multiple-choice packs' formats (MHQA, MedMCQA), from procedurally
made questions written in each pack's own file layout (``bench/preconditions.py``).

    python bench/fronts_mc.py [--pack mhqa|medmcqa] [--method DuoLearn[,GradDiff,...]]
        [--seeds 0,1,2] [--qa-epochs 32] [--budget-minutes N] [--output DIR]
    python bench/fronts.py DIR --splits forget_train,retain_train

The target is trained ``--qa-epochs`` (32: where `tiny` knows the training questions; it
stays at chance on the held-out ones, bench/preconditions.json), so FR and KPR are read on
the training rows (``forget_train``, ``retain_train``), as in docs/methods.md, and the
front reads them too (``Plan.front_splits``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from preconditions import questions, write_medmcqa, write_mhqa

SCENARIOS = {"mhqa": "mhqa/topic-anxiety", "medmcqa": "medmcqa/subject-surgery"}


def main() -> None:
    from medlethe.sweep import Plan, Sweep

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pack", choices=sorted(SCENARIOS), default="mhqa")
    ap.add_argument("--method", default="DuoLearn", help="one method, or several: GradDiff,NPO")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--qa-epochs", type=int, default=32)
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--budget-minutes", type=float, default=None)
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    methods = args.method.split(",")
    out = args.output or Path(f"front-{args.pack}-{'-'.join(m.lower() for m in methods)}")
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = questions(args.questions)
    cut = int(0.8 * len(rows))
    task_args = ({"source": str(write_mhqa(rows, data / "mhqa.jsonl"))} if args.pack == "mhqa"
                 else {"source": str(write_medmcqa(rows[:cut], data / "train.jsonl")),
                       "eval_source": str(write_medmcqa(rows[cut:], data / "validation.jsonl"))})
    plan = Plan(model="tiny", scenarios=[SCENARIOS[args.pack]], front=methods,
                seeds=[int(s) for s in args.seeds.split(",")], task_args=task_args,
                train_args={"qa_epochs": args.qa_epochs}, budget_minutes=args.budget_minutes,
                front_splits={"forget": "forget_train", "retain": "retain_train"})
    done = Sweep(plan, out).run()
    print(f"{out}: {len(done.failures)} failure(s); then: python bench/fronts.py {out} "
          "--splits forget_train,retain_train")


if __name__ == "__main__":
    main()
