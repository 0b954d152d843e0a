"""``medlethe run``: fine-tune target and oracle, unlearn with each method, evaluate every
model on every split, compare each with its references, summarise.

Each model's run is evaluated in memory, compared, and written once (target and oracle
after they are compared with each other, each unlearned model after it is compared with
both), so a run folder never holds a half-judged results file and a killed pipeline keeps
every model it finished. A method that fails is reported; the others go on. Under
``accelerate launch`` with several processes, every process trains and the main one alone
evaluates and writes (:func:`train_alongside`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.attack_run import build_attack, run_attack, variant
from medlethe.chat import ChatFormat
from medlethe.errors import MedletheError
from medlethe.evaluator import component_record, evaluate
from medlethe.judge import compare
from medlethe.lmeval import add_utility
from medlethe.lock import hold
from medlethe.metrics.preconditions import warn
from medlethe.paths import ensure_dir
from medlethe.registry import Registry, get_registry
from medlethe.report.summary import build_summary, write_summary
from medlethe.report.text import show_report
from medlethe.results.evaluation import EvaluationRun
from medlethe.spec import RunSpec, run_spec
from medlethe.task.base import Task
from medlethe.training.device import is_main
from medlethe.training.pipeline import (
    AnyTrainConfig,
    FinetuneOutput,
    finetune,
    load_scenario,
    train_config,
)
from medlethe.unlearn.pipeline import UnlearnResult, build_method, unlearn


@dataclass
class PipelineOutput:
    summary: dict[str, Any]
    summary_path: Path
    html_path: Path
    #: every written run by label: ``target``, ``oracle``, then one per method that ran
    runs: dict[str, EvaluationRun]


def scenario_tasks(scenario: str, registry: Registry) -> list[str]:
    """The scenario's task plus its multiple-choice form where one is registered."""
    names = registry.names("task")
    return [scenario] + ([f"{scenario}/mc"] if f"{scenario}/mc" in names else [])


def builtin_methods(registry: Registry, task: Task | None = None) -> list[str]:
    """The methods medlethe itself ships, in registration order (not the ablation variants
    registered as ``METHOD/variant``), that unlearn ``task``'s kind of model."""
    from medlethe.unlearn.pipeline import build_method

    names = [
        c.name
        for c in registry.components["method"].values()
        if c.plugin.distribution == "medlethe" and "/" not in c.name
    ]
    if task is None:
        return names
    return [n for n in names if build_method(n, registry=registry)[1].applies_to(task)]


def check_methods(
    names: Sequence[str], method_args: dict[str, dict[str, Any]], registry: Registry
) -> None:
    """Every method name and hyperparameter of a run, checked before any work: an unknown
    name, a --method-args entry for a method the run does not run, or an invalid value is
    an error naming it (with the closest names)."""
    for name in method_args:
        if name not in names:
            close = difflib.get_close_matches(name, [*names, *registry.names("method")], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise MedletheError(
                f"--method-args names method {name!r}, which this run does not run.{hint} "
                f"It runs: {', '.join(names) or 'no method'}."
            )
    for name in names:
        build_method(name, method_args.get(name), registry=registry)


def _provenance(spec: RunSpec, ft: FinetuneOutput) -> dict[str, Any]:
    return {
        "base_model": spec.model,
        "base_path": ft.base,
        "scenario": spec.scenario,
        "task_args": spec.task_args,
        "trained_on": ft.on,
        "finetune_fingerprint": ft.fingerprint,
        "train_config": dataclasses.asdict(ft.config),
        "training_runtime": _training_runtime(ft.path),
        "run_spec": spec.model_dump(mode="json"),
    }


def _training_runtime(folder: Path) -> dict[str, Any] | None:
    """Where the model was trained (device, processes, precision), from its metadata."""
    try:
        meta = json.loads((folder / "medlethe_finetune.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = meta.get("runtime")
    return found if isinstance(found, dict) else None


@dataclass
class RunSteps:
    """The steps of one scenario's benchmark on one model, with what they share: the
    references (target and oracle evaluated and compared with each other) and each unlearned
    model (unlearned, evaluated, compared with both). Steps return runs unwritten; the
    caller writes them (``medlethe run`` in order, a sweep's driver as jobs finish)."""

    spec: RunSpec
    task: Task
    registry: Registry
    progress: bool = True
    command: Sequence[str] | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    #: each unlearned model by its label, for the attacks on it
    made: dict[str, UnlearnResult] = dataclasses.field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return scenario_tasks(self.spec.scenario, self.registry)

    def evaluate(self, label: str, path: Path, **kwargs: Any) -> EvaluationRun:
        t0 = time.perf_counter()
        spec = self.spec
        run = evaluate(
            str(path), self.tasks, backend=spec.backend, backend_args=spec.backend_args,
            task_args=spec.task_args, splits=spec.splits, limit=spec.limit,
            log_samples=spec.log_samples, seed=spec.seed, progress=self.progress,
            cache=spec.cache, command=self.command, registry=self.registry, **kwargs,
        )
        utility = spec.utility()
        if utility is not None:
            run = add_utility(
                run, utility, path=str(path), adapter=kwargs.get("adapter"),
                backend=spec.backend, backend_args=spec.backend_args, seed=spec.seed,
            )
        self.timings[f"evaluate_{label}_s"] = time.perf_counter() - t0
        return run

    def judge(
        self, label: str, run: EvaluationRun, refs: dict[str, EvaluationRun]
    ) -> EvaluationRun:
        t0 = time.perf_counter()
        run = compare(run, refs, seed=self.spec.seed, registry=self.registry)
        self.timings[f"compare_{label}_s"] = time.perf_counter() - t0
        return run

    def references(
        self, target: FinetuneOutput, oracle: FinetuneOutput
    ) -> dict[str, EvaluationRun]:
        """Target and oracle, evaluated: the target against the oracle (how far it is from
        never having seen the forget set), the oracle against the target (what perfect
        unlearning would achieve)."""
        before = {
            label: self.evaluate(
                label, ft.path, model_role=label, chat=ChatFormat.of(ft.config),
                model_provenance=_provenance(self.spec, ft),
            )
            for label, ft in (("target", target), ("oracle", oracle))
        }
        t = self.judge("target", before["target"], {"oracle": before["oracle"]})
        o = self.judge("oracle", before["oracle"], {"target": t})
        return {"target": t, "oracle": o}

    def unlearned(
        self,
        name: str,
        target: FinetuneOutput,
        refs: dict[str, EvaluationRun],
        params: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> EvaluationRun:
        """``name`` (with ``params``) applied to ``target``, evaluated and judged against
        ``refs``; ``label`` names its timings (default: the method)."""
        label = label or name
        result = unlearn(
            name, self.task, target, self.spec.model, params=params,
            progress=self.progress, registry=self.registry,
        )
        self.timings[f"unlearn_{label}_s"] = result.seconds
        self.made[label] = result
        run = self.evaluate(
            label,
            result.output.path,
            adapter=str(result.output.adapter) if result.output.adapter else None,
            model_role="unlearned",
            chat=ChatFormat.of(target.config),
            model_provenance={
                **_provenance(self.spec, target),
                "variant": label,  # the method's label in the run (NPO[beta=0.2] in a sweep)
                "unlearn_fingerprint": result.fingerprint,
                "unlearn": result.meta,
            },
            method=component_record(result.component, result.params),
        )
        return self.judge(label, run, refs)

    def attacked(
        self, attack: str, label: str, target: FinetuneOutput, refs: dict[str, EvaluationRun],
        unlearned: EvaluationRun,
    ) -> EvaluationRun:
        """``attack`` on the model unlearned as ``label``, evaluated and judged against the
        references and the model before the attack (``recovery_ratio``); labelled
        ``label+attack``."""
        made, tag = self.made[label], f"{label}+{attack}"
        name, inline = variant(attack)
        result = run_attack(
            name, self.task, made.output.path, made.output.adapter, made.fingerprint,
            params={**self.spec.attack_args.get(name, {}), **inline}, train_config=target.config,
            seed=getattr(target.config, "seed", 0), progress=self.progress,
            registry=self.registry,
        )
        self.timings[f"attack_{tag}_s"] = result.seconds
        out = result.output
        run = self.evaluate(
            tag, out.path, adapter=str(out.adapter) if out.adapter else None,
            model_role="attacked", chat=ChatFormat.of(target.config),
            asked_with=out.prompts,
            model_provenance={
                **unlearned.results.model.provenance, "variant": tag,
                "attack": {"name": name, "label": attack, "params": result.params,
                           "meta": out.meta, "prompts_rewritten": len(out.prompts or {}),
                           "fingerprint": result.fingerprint, "of": unlearned.results.run_id},
            },
            method=component_record(made.component, made.params),
        )
        return self.judge(tag, run, {**refs, "unlearned": unlearned})


def check_attacks(names: Sequence[str], attack_args: dict[str, dict[str, Any]], task: Task,
                  registry: Registry) -> None:
    """Every attack of a run built with its parameters and able to attack ``task``'s
    models, and no --attack-args entry for an attack the run does not run: checked before
    any work."""
    parsed = [variant(entry) for entry in names]
    for name in attack_args:
        if name not in {n for n, _ in parsed}:
            raise MedletheError(f"--attack-args names attack {name!r}, which this run does "
                                f"not run; it runs: {', '.join(names) or 'no attack'}.")
    if len(set(names)) < len(names):
        raise MedletheError(f"--attacks names an attack twice: {', '.join(names)}.")
    for name, inline in parsed:
        build_attack(name, {**attack_args.get(name, {}), **inline}, task=task,
                     registry=registry)


def train_alongside(
    model: str,
    task: Task,
    names: Sequence[str],
    method_args: dict[str, dict[str, Any]],
    train_config: AnyTrainConfig | None,
    registry: Registry,
) -> list[dict[str, str]]:
    """What a process other than the main one does in a run under ``accelerate launch``:
    the run's fine-tunes and unlearning runs, in the main process's order, each step's
    gradients summed with the others' (:mod:`medlethe.training.device`); it evaluates and
    writes nothing (the main process does, while this one waits for the next training).
    A method that fails fails in every process (its loss, and so a non-finite one, is
    summed across them), and is passed over as in the main process."""
    target = finetune(model, task, "train", config=train_config, progress=False)
    finetune(model, task, "retain", config=train_config, progress=False)
    failures = []
    for name in names:
        try:
            unlearn(name, task, target, model, params=method_args.get(name), progress=False,
                    registry=registry)
        except Exception as exc:
            failures.append({"method": name, "error": f"{type(exc).__name__}: {exc}"})
    return failures


def run_pipeline(
    spec: RunSpec | str | None = None,
    scenario: str | None = None,
    *,
    registry: Registry | None = None,
    progress: bool = True,
    echo: bool = True,
    command: Sequence[str] | None = None,
    **fields: Any,
) -> PipelineOutput:
    """Run the whole benchmark that ``spec`` (a :class:`medlethe.RunSpec`) describes; write
    every run under ``spec.output/results`` and the summary (``summary.json``,
    ``index.html``) in ``spec.output``. For scripts, ``run_pipeline("tiny",
    "synthclinic/patient-10", output=..., **fields)`` builds the spec from a model, a
    scenario and any of its fields (and ``train_config=``, ``utility=``:
    :func:`medlethe.spec.run_spec`)."""
    spec = run_spec(spec, scenario, **fields)
    registry = registry or get_registry()
    task = load_scenario(spec.scenario, spec.task_args, registry=registry)
    names = builtin_methods(registry, task) if spec.methods is None else list(spec.methods)
    check_methods(names, spec.method_args, registry)  # before anything is written
    check_attacks(spec.attacks, spec.attack_args, task, registry)
    train = train_config(spec.model, spec.train_args, task)
    if not is_main():  # another process of `accelerate launch`: it trains, the main writes
        failed = train_alongside(spec.model, task, names, spec.method_args, train, registry)
        out = Path(spec.output)
        return PipelineOutput({"failures": failed}, out / "summary.json",
                              out / "index.html", {})
    out = ensure_dir(spec.output, "the output folder")
    with hold(out):  # one writer per folder: a second run is refused, not interleaved
        bench = RunSteps(spec, task, registry, progress=progress, command=command)
        summary, runs = _benchmark(bench, names, train, out, echo)
        json_path, html_path = write_summary(summary, out)
        EvaluationRun.prune(out / "results")
        if echo:
            show_report([(label, run.results) for label, run in runs.items()], out)
            print(f"\nsummary: {json_path}\nreport:  {html_path}")
        return PipelineOutput(summary, json_path, html_path, runs)


def _benchmark(bench: RunSteps, names: Sequence[str], train: AnyTrainConfig, out: Path,
               echo: bool) -> tuple[dict[str, Any], dict[str, EvaluationRun]]:
    """Fine-tune, evaluate and judge the references, then each method; write every run
    as it is judged. The summary and the runs by label."""
    spec, results_dir, timings = bench.spec, out / "results", bench.timings
    started = time.perf_counter()
    target = finetune(spec.model, bench.task, "train", config=train, progress=bench.progress)
    timings["finetune_target_s"] = target.seconds
    oracle = finetune(spec.model, bench.task, "retain", config=train, progress=bench.progress)
    timings["finetune_oracle_s"] = oracle.seconds
    references = bench.references(target, oracle)
    runs = {label: run.write(results_dir) for label, run in references.items()}
    refs = dict(runs)
    warn(runs["target"].results.preconditions, brief=echo)
    failures: list[dict[str, str]] = []

    def attempt(what: str, tag: str, step: Callable[..., EvaluationRun], *args: Any) -> None:
        try:
            runs[tag] = step(*args).write(results_dir)
        except Exception as exc:  # one failing method or attack must not stop the others
            failures.append({"method": tag, "error": f"{type(exc).__name__}: {exc}"})
            print(f"medlethe: {what} {tag!r} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    for name in names:
        attempt("method", name, bench.unlearned, name, target, refs,
                spec.method_args.get(name))
        for attack in spec.attacks if name in runs else ():  # a failed method: no attack
            attempt("attack", f"{name}+{attack}", bench.attacked, attack, name, target, refs,
                    runs[name])
    timings["total_s"] = time.perf_counter() - started
    summary = build_summary(
        runs, scenario=spec.scenario, preconditions=runs["target"].results.preconditions,
        extra={"model": spec.model, "timings": timings, "failures": failures},
    )
    return summary, runs
