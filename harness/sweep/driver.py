"""The sweep driver: expands a plan into jobs, runs them on an executor, writes every
result itself, and resumes a killed sweep where it stopped.

Layout of a sweep's output folder::

    plan.json                       the plan as run
    jobs/<job id>.json              one record per finished job (done or failed)
    runs/<scenario>/seed-<S>/       results, values, summary.json, index.html of one seed
    aggregate.json, index.html      across seeds (medlethe.sweep.aggregate)

A job is done when its record says so and its results files exist; a resumed sweep skips
done jobs (fine-tunes are cached by fingerprint anyway) and reruns failed ones.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlethe.errors import MedletheError
from medlethe.lock import hold
from medlethe.paths import ensure_dir
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.io import atomic_write_text
from medlethe.spec import run_spec
from medlethe.sweep.jobs import (
    Job,
    Settings,
    scenario_task,
    seed_train_config,
)
from medlethe.sweep.plan import Plan
from medlethe.training.pipeline import finetune_fingerprint

EXECUTORS = ("local", "ray")


def scenario_dir(scenario: str) -> str:
    """``synthclinic/patient-10`` -> ``synthclinic__patient-10`` (one folder level)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", scenario.replace("/", "__"))


@dataclass
class SweepOutput:
    output: Path
    #: (scenario, seed) -> label -> written run
    runs: dict[tuple[str, int], dict[str, EvaluationRun]]
    failures: list[dict[str, Any]]
    aggregate_path: Path | None = None
    html_path: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


class Sweep:
    """One plan's jobs and their records in ``output``."""

    def __init__(
        self,
        plan: Plan,
        output: str | Path,
        *,
        disabled: tuple[str, ...] = (),
        command: tuple[str, ...] | None = None,
        cache: str | bool | None = None,
        echo: bool = True,
    ) -> None:
        from medlethe.registry import get_registry
        from medlethe.run import builtin_methods, check_methods
        from medlethe.unlearn.pipeline import build_method

        self.plan = plan
        self.echo = echo
        spec = plan.spec()
        self.settings = Settings(spec if cache is None else run_spec(spec, cache=cache),
                                 command, disabled)
        registry = get_registry(disabled)
        self.jobs: list[Job] = []
        self.variants: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        finetunes: dict[str, Job] = {}
        tasks = {scenario: scenario_task(self.settings, scenario) for scenario in plan.scenarios}
        for scenario, task in tasks.items():
            names = builtin_methods(registry, task) if plan.methods is None else plan.methods
            unknown = sorted(set(plan.grid) - set(names))
            if unknown:
                raise MedletheError(
                    f"the plan's grid names {', '.join(unknown)}, which the sweep does not "
                    f"run on {scenario} (it runs {', '.join(names) or 'no method'})."
                )
            check_methods(names, {k: v for k, v in plan.method_args.items() if k in names},
                          registry)
            self._check_applies(names, task, registry)
            fronts = {m: build_method(m, registry=registry)[1] for m in plan.front}
            self.variants[scenario] = plan.variants(
                names, {m: x.search_space() for m, x in fronts.items()},
                {m: x.params.model_dump() for m, x in fronts.items()})
            for _, method, params in self.variants[scenario]:  # every grid value, now
                build_method(method, params, registry=registry)
        running = {m for v in self.variants.values() for _, m, _ in v}
        stray = sorted(set(plan.method_args) - running)
        if stray:
            raise MedletheError(
                f"the plan's method_args name {', '.join(stray)}, which the sweep does not "
                f"run (it runs {', '.join(sorted(running)) or 'no method'}); check the "
                "spelling, or add the method to methods."
            )
        self.out = ensure_dir(output, "the sweep's output folder")
        #: (scenario, seed, on) -> the finetune job that makes that model
        self.finetune_of: dict[tuple[str, int, str], Job] = {}
        setting = self.settings.identity()
        for seed in plan.seeds:
            for scenario, task in tasks.items():
                config = seed_train_config(self.settings, task, seed)
                for on in ("train", "retain"):
                    fp = finetune_fingerprint(plan.model, task, on, config)
                    if fp not in finetunes:
                        finetunes[fp] = Job("finetune", scenario, seed, on=on, finetune=fp)
                        self.jobs.append(finetunes[fp])
                    self.finetune_of[(scenario, seed, on)] = finetunes[fp]
                self.jobs.append(Job("reference", scenario, seed, setting=setting))
                for label, method, params in self.variants[scenario]:
                    self.jobs.append(Job(
                        "method", scenario, seed, label=label, method=method,
                        params=json.dumps(params, sort_keys=True), setting=setting,
                    ))
        if plan.front:  # setting after setting, each under every seed: a sweep cut short by
            # its budget has whole settings, in the order Plan.variants gives
            order = {label: i for i, (label, _, _) in enumerate(
                v for vs in self.variants.values() for v in vs)}
            methods = sorted((j for j in self.jobs if j.step == "method"),
                             key=lambda j: (order[j.label or ""], j.seed))
            self.jobs = [j for j in self.jobs if j.step != "method"] + methods
        atomic_write_text(self.out / "plan.json", plan.model_dump_json(indent=2) + "\n")

    @staticmethod
    def _check_applies(names: list[str], task: Any, registry: Any) -> None:
        from medlethe.unlearn.pipeline import build_method

        for name in names:
            if not build_method(name, registry=registry)[1].applies_to(task):
                raise MedletheError(
                    f"method {name!r} does not unlearn {task.name} ({task.output_type}); "
                    "leave it out of this plan's methods, or put the scenario in a plan of "
                    "its own."
                )

    # -- records ------------------------------------------------------------------------------
    def seed_dir(self, scenario: str, seed: int) -> Path:
        return self.out / "runs" / scenario_dir(scenario) / f"seed-{seed}"

    def _record_path(self, job: Job) -> Path:
        return self.out / "jobs" / f"{job.id}.json"

    def record(self, job: Job) -> dict[str, Any] | None:
        path = self._record_path(job)
        if not path.exists():
            return None
        rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return rec

    def done_runs(self, job: Job) -> dict[str, EvaluationRun] | None:
        """The written runs of a finished job (``None`` unless it finished and its files
        are all there)."""
        rec = self.record(job)
        if rec is None or rec.get("status") != "done":
            return None
        folder = self.seed_dir(job.scenario, job.seed) / "results"
        try:
            return {label: EvaluationRun.load(folder / name)
                    for label, name in rec["results"].items()}
        except Exception:  # a file lost since: run the job again
            return None

    def _write_record(self, job: Job, **fields: Any) -> None:
        rec = {"job": job.name, "step": job.step, "scenario": job.scenario, "seed": job.seed,
               "label": job.label, **fields}
        atomic_write_text(self._record_path(job), json.dumps(rec, indent=2) + "\n")

    def store(self, job: Job, runs: dict[str, EvaluationRun], seconds: float) -> dict[
        str, EvaluationRun
    ]:
        """Write a finished job's runs into its seed folder, then its record."""
        folder = self.seed_dir(job.scenario, job.seed) / "results"
        written = {label: run.write(folder) for label, run in runs.items()}
        self._write_record(job, status="done", seconds=round(seconds, 3), results={
            label: run.path.name for label, run in written.items() if run.path is not None
        })
        return written

    def fail(self, job: Job, error: str) -> dict[str, Any]:
        self._write_record(job, status="failed", error=error)
        self.say(f"medlethe: {job.name} failed: {error}", err=True)
        return {"job": job.name, "scenario": job.scenario, "seed": job.seed,
                "label": job.label, "error": error}

    def say(self, text: str, *, err: bool = False) -> None:
        if self.echo or err:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    # -- running ------------------------------------------------------------------------------
    def run(self, executor: str = "local", ray_address: str | None = None) -> SweepOutput:
        if executor not in EXECUTORS:
            raise MedletheError(
                f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}."
            )
        with hold(self.out, "sweep's output folder"):
            return self._run(executor, ray_address)

    def _run(self, executor: str, ray_address: str | None) -> SweepOutput:
        started = time.perf_counter()
        steps = [j for j in self.jobs if j.step != "finetune"]
        # each finished job's runs, read once (its values files can be large)
        done = {j.id: r for j in steps if (r := self.done_runs(j)) is not None}
        kept = len(done)
        if kept:
            self.say(f"resuming: {kept} of {len(steps)} evaluation job(s) finished before")
        from medlethe.sweep.executors import Local, Ray
        from medlethe.sweep.report import finish
        from medlethe.sweep.schedule import schedule

        res = self.plan.resources
        if self.plan.budget_minutes is not None:
            self.settings = dataclasses.replace(
                self.settings, deadline=time.time() + 60 * self.plan.budget_minutes)
        runs, failures = schedule(self, done, Local() if executor == "local" else Ray(
            res.num_cpus, res.num_gpus, ray_address))

        out = finish(self, runs, failures)
        out.counts = {"jobs": len(self.jobs), "kept": kept,
                      "seconds": int(time.perf_counter() - started)}
        return out
