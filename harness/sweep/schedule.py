"""The one scheduler of a sweep's jobs, over any :class:`~medlethe.sweep.executors.Executor`.

Every job is submitted in plan order with the handles of what it needs (a reference job the
two fine-tunes of its seed, a method job the target and the reference runs); then finished
jobs are taken one at a time and each is written (runs, then its record) as it comes, so a
killed sweep keeps every job it finished. A job finished before this run of the sweep is
not submitted: its written runs stand in for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medlethe.results.evaluation import EvaluationRun
from medlethe.sweep.executors import Executor, SkippedError, first, timed
from medlethe.sweep.jobs import Job, finetune_step, method_step, reference_step

if TYPE_CHECKING:
    from medlethe.sweep.driver import Sweep

RunsBySeed = dict[tuple[str, int], dict[str, EvaluationRun]]
#: job id -> the written runs of a job finished before this run of the sweep
Done = dict[str, dict[str, EvaluationRun]]


def _timed_reference(*args: Any) -> tuple[dict[str, EvaluationRun], float]:
    return timed(reference_step, *args)


def _timed_method(*args: Any) -> tuple[EvaluationRun, float]:
    return timed(method_step, *args)


def _timed_finetune(*args: Any) -> tuple[Any, float]:
    return timed(finetune_step, *args)


def schedule(sweep: Sweep, done: Done, executor: Executor) -> tuple[
        RunsBySeed, list[dict[str, Any]]]:
    """Run ``sweep``'s jobs on ``executor``: the runs by (scenario, seed), and the failures."""
    s = sweep.settings
    models: dict[str, Any] = {}  # fine-tune fingerprint -> handle
    references: dict[tuple[str, int], Any] = {}  # (scenario, seed) -> handle of its refs
    pending: dict[Any, Job] = {}
    runs: RunsBySeed = {}
    for job in sweep.jobs:
        key = (job.scenario, job.seed)
        if job.step == "finetune":
            handle = executor.submit(_timed_finetune, s, job.scenario, job.seed, job.on)
            models[job.finetune or ""] = handle
            pending[handle] = job
            continue
        kept = done.get(job.id)
        if kept is not None:
            runs.setdefault(key, {}).update(kept)
            sweep.say(f"{job.name}: done before")
            if job.step == "reference":
                references[key] = executor.put(kept)
            continue
        target, oracle = (models[sweep.finetune_of[(*key, on)].finetune or ""]
                          for on in ("train", "retain"))
        if job.step == "reference":
            handle = executor.submit(_timed_reference, s, *key, executor.submit(first, target),
                                     executor.submit(first, oracle))
            references[key] = executor.submit(first, handle)
        else:
            handle = executor.submit(_timed_method, s, *key, job.label, job.method,
                                     job.parameters, executor.submit(first, target),
                                     references[key])
        pending[handle] = job
    return runs, _collect(sweep, executor, pending, runs)


def _collect(sweep: Sweep, executor: Executor, pending: dict[Any, Job],
             runs: RunsBySeed) -> list[dict[str, Any]]:
    """Take the jobs as they finish; write each one's runs and record. The failures."""
    failures: list[dict[str, Any]] = []
    n, finished = len(pending), 0
    while pending:
        handle = executor.next_done(list(pending))
        job = pending.pop(handle)
        finished += 1
        prefix = f"[{finished}/{n}] {job.name}"
        try:
            value, secs = executor.result(handle)
        except SkippedError as exc:
            failures.append(sweep.fail(job, str(exc)))
            continue
        except Exception as exc:  # one failing job must not stop the others
            failures.append(sweep.fail(job, f"{type(exc).__name__}: {exc}"))
            continue
        if job.step == "finetune":
            sweep.say(f"{prefix}: {'cached' if value.cached else f'{secs:.0f} s'}")
            continue
        made = value if job.step == "reference" else {job.label or "": value}
        runs.setdefault((job.scenario, job.seed), {}).update(sweep.store(job, made, secs))
        sweep.say(f"{prefix}: {secs:.0f} s")
    return failures
