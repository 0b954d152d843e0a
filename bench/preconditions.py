"""Which knowledge preconditions hold on the multiple-choice packs, by model and budget.

Writes MedMCQA-format and MHQA-format files of procedurally made questions (fictional facts,
four options: a model cannot know a held-out one, as a small model cannot know unseen real
medical questions) and runs target + oracle fine-tuning and evaluation for each model and
QA-epoch budget, printing the target's accuracy and whether its precondition held on the
held-out splits (forget, retain) and the training splits (forget_train, retain_train).

    python bench/preconditions.py --models tiny --epochs 2,8,32 --questions 400
    python bench/preconditions.py --models smollm2-135m --epochs 1,3 --questions 80
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from medlethe.run import run_pipeline
from medlethe.training.pipeline import default_train_config

DRUGS = [f"{a}{b}" for a in ("zen", "plex", "quar", "rub", "calt", "mivas", "fen", "kor")
         for b in ("torin", "avir", "odol", "enzil", "roxin", "stat", "obrax", "vane")]
TOPICS = ("Anxiety", "Depression", "Trauma", "Obsessive-Compulsive Disorders")
SUBJECTS = ("Surgery", "Medicine", "Pharmacology", "Pathology")


def questions(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        options = rng.sample(DRUGS, 4)
        gold = rng.randrange(4)
        out.append({"i": i, "q": f"Which drug did trial T-{1000 + i} give its first patient?",
                    "options": options, "gold": gold, "group": i % 4})
    return out


def write_mhqa(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w") as fh:
        for r in rows:
            fh.write(json.dumps({
                "question": r["q"], **{f"option{k + 1}": o for k, o in enumerate(r["options"])},
                "correct_option_number": r["gold"] + 1, "topic": TOPICS[r["group"]],
                "type": "Factoid",
            }) + "\n")
    return path


def write_medmcqa(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w") as fh:
        for r in rows:
            fh.write(json.dumps({
                "id": f"q{r['i']}", "question": r["q"],
                **{f"op{c}": o for c, o in zip("abcd", r["options"], strict=True)},
                "cop": r["gold"], "subject_name": SUBJECTS[r["group"]], "choice_type": "single",
            }) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tiny")
    ap.add_argument("--epochs", default="2,8,32")
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--out", default="bench/preconditions.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="medlethe-pre-"))
    rows = questions(args.questions)
    cut = int(0.8 * len(rows))
    packs = {
        "mhqa/topic-anxiety": {"source": str(write_mhqa(rows, tmp / "mhqa.jsonl"))},
        "medmcqa/subject-surgery": {
            "source": str(write_medmcqa(rows[:cut], tmp / "train.jsonl")),
            "eval_source": str(write_medmcqa(rows[cut:], tmp / "validation.jsonl")),
        },
    }
    found = []
    for model in args.models.split(","):
        for epochs in map(int, args.epochs.split(",")):
            config = default_train_config(model)
            config = type(config)(**{**config.__dict__, "qa_epochs": epochs})
            for scenario, task_args in packs.items():
                t0 = time.perf_counter()
                out = run_pipeline(model, scenario, output=tmp / f"{model}-{epochs}-{scenario}",
                                   task_args=task_args, train_config=config, methods=[],
                                   progress=False, echo=False)
                target = out.runs["target"].results
                for c in target.preconditions:
                    if c.task != scenario:
                        continue
                    row = {"model": model, "qa_epochs": epochs, "pack": scenario.split("/")[0],
                           "split": c.split, "n": target.tasks[scenario].splits[c.split],
                           "accuracy": round(c.score, 3), "chance": round(c.baseline, 3),
                           "margin_ci": [round(c.ci.low, 3), round(c.ci.high, 3)] if c.ci else None,
                           "held": c.held, "seconds": round(time.perf_counter() - t0)}
                    found.append(row)
                    print(json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps(found, indent=1) + "\n")


if __name__ == "__main__":
    main()
