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

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlethe.errors import MedletheError
from medlethe.lock import hold
from medlethe.paths import ensure_dir
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.io import atomic_write_text
from medlethe.sweep.jobs import (
    Job,
    Settings,
    finetune_step,
    method_step,
    reference_step,
    scenario_task,
    seed_train_config,
)
from medlethe.sweep.plan import Plan
from medlethe.training.pipeline import FinetuneOutput, finetune_fingerprint
from medlethe.utility import utility_spec

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
        cache: str | bool = True,
        echo: bool = True,
    ) -> None:
        from medlethe.registry import get_registry
        from medlethe.run import builtin_methods, check_methods
        from medlethe.unlearn.pipeline import build_method

        self.plan = plan
        self.echo = echo
        self.settings = Settings(
            plan.model, plan.backend, dict(plan.backend_args), dict(plan.task_args),
            dict(plan.train_args), tuple(plan.splits) if plan.splits else None, cache,
            command, disabled, utility=utility_spec(plan.utility_tasks, plan.utility_args),
        )
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
            self.variants[scenario] = plan.variants(names)
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
        runner = _run_local if executor == "local" else _run_ray
        runs, failures = runner(self, done, ray_address)
        from medlethe.sweep.report import finish

        out = finish(self, runs, failures)
        out.counts = {"jobs": len(self.jobs), "kept": kept,
                      "seconds": int(time.perf_counter() - started)}
        return out


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


RunsBySeed = dict[tuple[str, int], dict[str, EvaluationRun]]
#: job id -> the written runs of a job finished before this run of the sweep
Done = dict[str, dict[str, EvaluationRun]]


def _run_local(
    sweep: Sweep, done: Done, _address: str | None
) -> tuple[RunsBySeed, list[dict[str, Any]]]:
    """Every job in plan order, in this process."""
    s = sweep.settings
    models: dict[str, FinetuneOutput] = {}
    runs: RunsBySeed = {}
    failures: list[dict[str, Any]] = []
    n = len(sweep.jobs)
    for i, job in enumerate(sweep.jobs, 1):
        key = (job.scenario, job.seed)
        prefix = f"[{i}/{n}] {job.name}"
        if job.step == "finetune":
            assert job.finetune is not None
            try:
                ft, secs = _timed(finetune_step, s, job.scenario, job.seed, job.on)
            except Exception as exc:
                failures.append(sweep.fail(job, f"{type(exc).__name__}: {exc}"))
                continue
            models[job.finetune] = ft
            sweep.say(f"{prefix}: {'cached' if ft.cached else f'{secs:.0f} s'}")
            continue
        kept = done.get(job.id)
        if kept is not None:
            runs.setdefault(key, {}).update(kept)
            sweep.say(f"{prefix}: done before")
            continue
        target = models.get(sweep.finetune_of[(job.scenario, job.seed, "train")].finetune or "")
        oracle = models.get(sweep.finetune_of[(job.scenario, job.seed, "retain")].finetune or "")
        refs = runs.get(key, {})
        if target is None or oracle is None or (job.step == "method" and "target" not in refs):
            failures.append(sweep.fail(job, "skipped: its target, oracle or reference runs "
                                            "failed (see the errors above)"))
            continue
        try:
            if job.step == "reference":
                made, secs = _timed(reference_step, s, job.scenario, job.seed, target, oracle)
            else:
                assert job.label is not None and job.method is not None
                one, secs = _timed(
                    method_step, s, job.scenario, job.seed, job.label, job.method,
                    job.parameters, target, {r: refs[r] for r in ("target", "oracle")},
                )
                made = {job.label: one}
        except Exception as exc:  # one failing job must not stop the others
            failures.append(sweep.fail(job, f"{type(exc).__name__}: {exc}"))
            continue
        runs.setdefault(key, {}).update(sweep.store(job, made, secs))
        sweep.say(f"{prefix}: {secs:.0f} s")
    return runs, failures


def _timed_reference(*args: Any) -> tuple[dict[str, EvaluationRun], float]:
    """The reference step and its seconds, measured where it ran (not in Ray's queue)."""
    return _timed(reference_step, *args)


def _timed_method(*args: Any) -> tuple[EvaluationRun, float]:
    return _timed(method_step, *args)


def _first(pair: tuple[Any, float]) -> Any:
    return pair[0]


def _run_ray(
    sweep: Sweep, done: Done, address: str | None
) -> tuple[RunsBySeed, list[dict[str, Any]]]:
    """Each job a Ray task declaring the plan's CPUs and GPUs; dependencies passed as object
    references (a method's task starts when its target and reference runs exist). The
    driver writes every result as its task finishes. Workers need the same medlethe, the
    same plugins and a shared ``MEDLETHE_CACHE_DIR`` (fine-tuned models are folders)."""
    import os

    from medlethe._optional import optional_import

    ray = optional_import(
        "ray", component="the Ray executor", install="pip install 'medlethe[ray]'"
    )

    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("MEDLETHE_", "HF_", "TRANSFORMERS_"))}
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
    res = sweep.plan.resources
    opts = {"num_cpus": res.num_cpus, "num_gpus": res.num_gpus, "max_retries": 0}
    ft_task = ray.remote(**opts)(finetune_step)
    ref_task = ray.remote(**opts)(_timed_reference)
    method_task = ray.remote(**opts)(_timed_method)
    ref_first = ray.remote(num_cpus=0)(_first)
    s = sweep.settings
    models: dict[str, Any] = {}
    pending: dict[Any, Job] = {}
    runs: RunsBySeed = {}
    failures: list[dict[str, Any]] = []
    reference_ref: dict[tuple[str, int], Any] = {}
    for job in sweep.jobs:
        key = (job.scenario, job.seed)
        if job.step == "finetune":
            ref = ft_task.remote(s, job.scenario, job.seed, job.on)
            models[job.finetune or ""] = ref
            pending[ref] = job
            continue
        kept = done.get(job.id)
        if kept is not None:
            runs.setdefault(key, {}).update(kept)
            if job.step == "reference":
                reference_ref[key] = ray.put(kept)
            continue
        target = models[sweep.finetune_of[(job.scenario, job.seed, "train")].finetune or ""]
        oracle = models[sweep.finetune_of[(job.scenario, job.seed, "retain")].finetune or ""]
        if job.step == "reference":
            ref = ref_task.remote(s, job.scenario, job.seed, target, oracle)
            reference_ref[key] = ref_first.remote(ref)
        else:
            ref = method_task.remote(
                s, job.scenario, job.seed, job.label, job.method, job.parameters, target,
                reference_ref[key],
            )
        pending[ref] = job
    n = len(pending)
    finished = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        job = pending.pop(ref)
        finished += 1
        try:
            value = ray.get(ref)
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            failures.append(sweep.fail(job, f"{type(cause).__name__}: {cause}"))
            continue
        if job.step == "finetune":
            sweep.say(f"[{finished}/{n}] {job.name}: {'cached' if value.cached else 'trained'}")
            continue
        value, secs = value
        made = value if job.step == "reference" else {job.label or "": value}
        runs.setdefault((job.scenario, job.seed), {}).update(sweep.store(job, made, secs))
        sweep.say(f"[{finished}/{n}] {job.name}: done")
    return runs, failures
