"""Generating synthclinic at AMNESIA scale (8,820 patients, 70,560 QA): target under 1 min."""

from __future__ import annotations

import time

from medlethe.tasks.synthclinic.generator import SynthConfig, generate
from medlethe.tasks.synthclinic.task import SynthclinicTask

if __name__ == "__main__":
    start = time.perf_counter()
    data = generate(SynthConfig(n_patients=8820, n_holdout=880))
    gen_s = time.perf_counter() - start
    n_qa = sum(len(p.qa) for p in data.train)
    start = time.perf_counter()
    task = SynthclinicTask("patient-10", n_patients=8820, n_holdout=880)
    sizes = {s: len(task.docs(s)) for s in task.split_names()}
    task_s = time.perf_counter() - start
    print(f"patients {len(data.train)} (+{len(data.holdout)} holdout), QA {n_qa}")
    print(f"generate: {gen_s:.2f} s (includes loading ICD-10-CM); scenario split: {task_s:.2f} s")
    print(f"patient-10 split sizes: {sizes}")
