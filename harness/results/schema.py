"""The results file, schema version 1 (its JSON Schema: ``medlethe.results.json_schema()``).

A results file holds no prompt, answer or patient text: only names, hashes, sizes and
numbers. Per-sample text goes to the separate, opt-in samples JSONL.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

RESULTS_SCHEMA_VERSION: Literal[1] = 1
#: a run id: UTC time stamp and 8 hex digits; it names files, so nothing else is accepted
RUN_ID_PATTERN = r"[0-9]{8}T[0-9]{6}-[0-9a-f]{8}"
RunId = Annotated[str, StringConstraints(pattern=rf"^{RUN_ID_PATTERN}$")]
#: a finite number, never a string or a boolean
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentRecord(_Model):
    """A registered component: its name, arguments and the plugin that provided it."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    plugin: str
    distribution: str
    version: str


class ModelRecord(_Model):
    name_or_path: str
    fingerprint: str
    adapter: str | None = None
    adapter_fingerprint: str | None = None
    role: str | None = Field(None, description="target, oracle, base or unlearned")
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="how the model was made: base, data, hyperparameters"
    )


class ClassesRecord(_Model):
    """The label space of a classification task."""

    names: list[str] = Field(description="class names, in logit order")
    multi_label: bool = Field(description="sigmoid per class (True) or softmax over classes")
    forget: list[str] = Field(default_factory=list, description="the classes to forget")


class TaskRecord(_Model):
    name: str
    version: str
    output_type: str
    plugin: str
    distribution: str
    plugin_version: str
    config_hash: str | None
    prompt_template_hash: str | None
    chat_template: str | None
    args: dict[str, Any] = Field(default_factory=dict, description="task factory arguments")
    splits: dict[str, int] = Field(description="split name -> number of instances evaluated")
    data_fingerprints: dict[str, str]
    limit: int | None = None
    sampling_unit: str = Field(
        "question", description="what the bootstrap resampled: patient, question, ..."
    )
    skipped_rows: dict[str, list[int]] = Field(
        default_factory=dict,
        description="split -> row numbers (from 1) left out as invalid (on_invalid_row: skip)",
    )
    classes: ClassesRecord | None = Field(None, description="classification tasks only")


class CI(_Model):
    low: Number
    high: Number
    level: Number
    method: str
    n_resamples: StrictInt
    unit: str | None = Field(
        None, description="what was resampled (patient, question); None in older files"
    )

    @model_validator(mode="after")
    def _ordered(self) -> CI:
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} is above its high {self.high}")
        return self


class MetricResult(_Model):
    task: str
    split: str
    subset: str | None = Field(None, description="e.g. 'type=factual'; None for the whole split")
    metric: str
    metric_version: str
    plugin: str
    value: Number | None
    ci: CI | None
    direction: Literal["higher", "lower", "none"]
    n: StrictInt
    against: str | None = Field(
        None, description="role of the reference run (target, oracle) for comparison metrics"
    )
    excluded: StrictInt = Field(
        0, ge=0, description="rows of the split left out (no gold label, no model output)"
    )
    withheld: str | None = Field(
        None, description="why value is None where it cannot be computed on this split"
    )


class Precondition(_Model):
    """Whether the target knew a split before unlearning: its primary score minus a
    reference (``chance`` for multiple choice, the ``oracle``'s score on forgetting splits
    of free text, ``zero`` otherwise), with an interval; ``held`` when the interval is above
    zero. Numbers on a split whose precondition failed are not results."""

    task: str
    split: str
    metric: str
    reference: Literal["chance", "oracle", "zero"]
    score: Number
    baseline: Number
    margin: Number
    ci: CI | None
    held: bool
    target_run: str | None = None


class RequestStats(_Model):
    generate: int
    loglikelihood: int
    classify: int = 0
    cache_hits: int
    model_calls: int


class Environment(_Model):
    python: str
    platform: str
    libraries: dict[str, str]
    hardware: dict[str, Any]


class Results(_Model):
    schema_version: Literal[1]
    run_id: RunId
    created: str
    medlethe_version: str
    command: list[str]
    model: ModelRecord
    backend: ComponentRecord
    method: ComponentRecord | None = Field(
        None, description="the unlearning method that produced the model, with its parameters"
    )
    tasks: dict[str, TaskRecord]
    metrics: list[MetricResult]
    metric_components: dict[str, ComponentRecord]
    skipped_metrics: dict[str, str] = Field(
        default_factory=dict, description="optional metrics skipped, with the reason"
    )
    plugins: list[dict[str, str]]
    seeds: dict[str, int]
    requests: RequestStats
    timings: dict[str, float]
    environment: Environment
    references: dict[str, RunId] = Field(
        default_factory=dict, description="role -> run id of the runs comparison metrics used"
    )
    preconditions: list[Precondition] = Field(
        default_factory=list,
        description="what the target knew before unlearning (docs/metrics.md, Preconditions)",
    )
    samples_file: str | None = Field(None, pattern=rf"^samples_{RUN_ID_PATTERN}\.jsonl$")
    values_file: str | None = Field(
        None,
        pattern=rf"^values_{RUN_ID_PATTERN}\.json$",
        description="per-sample metric values (numbers and category labels only)",
    )
