"""The run spec: everything that decides one ``medlethe run``, in one typed record.

The CLI builds it from its flags (each flag's help is the field's description), the
Python API takes it (``run_pipeline(RunSpec(...))``), a sweep expands its plan into one per
scenario and seed, and every results file of the run records it in full
(``model.provenance["run_spec"]``). ``medlethe run --spec FILE`` runs it again, from a spec
file or from the spec recorded in a results file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medlethe.errors import MedletheError


def key_value(item: str) -> tuple[str, Any] | None:
    """``KEY=VALUE`` -> (key, value), the value parsed as JSON where it can be (a number,
    a list, true) and kept as text otherwise; ``None`` where ``item`` has no ``=``. The one
    reading of settings written on a command line (``--task-args``, ``--attacks
    NAME[K=V]``)."""
    key, sep, raw = item.partition("=")
    if not sep:
        return None
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


class RunFields(BaseModel):
    """The settings a run and a sweep plan share (a plan adds its scenarios, seeds and
    grid; a run its scenario, seed and output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("tiny", description="the base model: tiny, smollm2-135m, tiny-bert, "
                       "a hub id or a local folder")
    backend: str = Field("hf", description="what answers the evaluation's requests: hf "
                         "(transformers), vllm, or a plugin's ('medlethe backends')")
    backend_args: dict[str, Any] = Field(
        default_factory=dict, description="backend arguments, e.g. batch_size=8,"
        "dtype=bfloat16 (batch_size: requests per forward pass)")
    task_args: dict[str, Any] = Field(default_factory=dict, description="arguments for the "
                                      "scenario's tasks, e.g. n_patients=440,seed=1")
    splits: list[str] | None = Field(None, description="evaluate only these splits")
    limit: int | None = Field(None, ge=1, description="evaluate only the first N rows of "
                              "each split (a smoke test: the leaderboard refuses it)")
    log_samples: bool = Field(False, description="also write per-sample prompts and answers "
                              "(may hold patient text)")
    methods: list[str] | None = Field(None, description="the methods to run (default: every "
                                      "built-in one that applies)")
    method_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="hyperparameters per method, e.g. "
        "NPO.beta=0.2,GradDiff.alpha=2")
    attacks: list[str] = Field(default_factory=list, description="attacks on every unlearned "
                               "model, e.g. quantize-4bit,relearn[steps=5] ('medlethe attacks'; "
                               "NAME[K=V,...] sets parameters under that label): each "
                               "attacked model is evaluated and its recovery_ratio recorded")
    attack_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameters per attack, e.g. relearn.steps=50")
    train_args: dict[str, Any] = Field(default_factory=dict, description="fine-tuning "
                                       "settings over the model family's defaults, e.g. "
                                       "qa_epochs=24,precision=bf16")
    cache: bool | str = Field(True, description="the response cache: true (default file), "
                              "false (none), or an SQLite file")
    utility_tasks: list[str] | None = Field(None, description="lm-eval tasks every model is "
                                            "also evaluated on, e.g. lmeval:pubmedqa")
    utility_args: dict[str, Any] = Field(
        default_factory=dict, description="include_path=FOLDER (local lm-eval task configs), "
        "num_fewshot=N, limit=N, batch_size=N")

    @model_validator(mode="after")
    def _utility_checked(self) -> RunFields:
        self.utility()  # a bad --utility-args is an error before any training
        return self

    def utility(self) -> Any:
        """The lm-eval utility evaluation it asks for (``medlethe.lmeval.UtilitySpec``), or
        ``None``."""
        from medlethe.lmeval import utility_spec

        return utility_spec(self.utility_tasks, self.utility_args)


class RunSpec(RunFields):
    """One run: a model, a scenario, the methods, and how each step runs."""

    spec_version: Literal[1] = Field(1, description="the run spec's version; 1")
    scenario: str = Field("synthclinic/patient-10", description="the scenario: a task with "
                          "forget, retain and holdout splits ('medlethe tasks')")
    seed: int = Field(1234, description="the seed of the evaluation (bootstrap intervals); "
                      "the training seed is train_args' seed")
    output: str = Field("medlethe-out", description="folder for the results and the report")

def run_spec(spec: RunSpec | str | None = None, scenario: str | None = None, *,
             train_config: Any = None, utility: Any = None, **fields: Any) -> RunSpec:
    """A spec from the Python API's arguments: a :class:`RunSpec` as it is (``fields``
    replace some of its values), or a model name, a scenario and fields; ``train_config``
    (a family's config dataclass) becomes ``train_args``, ``utility`` (a ``UtilitySpec``)
    the ``utility_*`` fields."""
    if train_config is not None:
        fields["train_args"] = dataclasses.asdict(train_config)
    if utility is not None:
        fields["utility_tasks"] = [f"lmeval:{t}" for t in utility.tasks]
        fields["utility_args"] = {k: v for k, v in dataclasses.asdict(utility).items()
                                  if k != "tasks" and v is not None}
    if scenario is not None:
        fields["scenario"] = scenario
    fields = {k: str(v) if isinstance(v, Path) else v for k, v in fields.items()}
    if isinstance(spec, RunSpec):
        if fields.get("methods") is not None and "method_args" not in fields:
            # other methods than the spec's: keep the hyperparameters of those still run
            fields["method_args"] = {m: a for m, a in spec.method_args.items()
                                     if m in fields["methods"]}
        fields = {**spec.model_dump(), **fields}
    elif spec is not None:
        fields["model"] = spec
    try:
        return RunSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MedletheError(f"run settings: {problems}.") from exc


def load_spec(path: str | Path) -> RunSpec:
    """A spec from a JSON file: a spec itself, or a results file that records one."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MedletheError(f"--spec {path}: cannot read it as JSON ({exc}).") from exc
    if isinstance(raw, dict) and {"run_id", "metrics", "model"} <= raw.keys():  # results
        raw = (raw.get("model") or {}).get("provenance", {}).get("run_spec")
        if raw is None:
            raise MedletheError(f"--spec {path}: this results file records no run spec (it "
                                "was written by medlethe evaluate, or before specs existed).")
    if isinstance(raw, dict) and str(raw.get("output", "")).startswith("local:"):
        raw = {k: v for k, v in raw.items() if k != "output"}  # a folder results hide
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}"
                             for e in exc.errors())
        raise MedletheError(f"--spec {path}: {problems}. Fields: "
                            f"{', '.join(RunSpec.model_fields)}.") from exc
