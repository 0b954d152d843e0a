"""The task YAML schema (version 1). Unknown keys are rejected; every field is documented."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medlethe.errors import TaskConfigError

TASK_SCHEMA_VERSION = 1
#: a task's kind: the name of a registered :class:`medlethe.Kind` (``medlethe kinds``
#: lists them); a YAML task takes one whose kind reads YAML fields (``Kind.yaml_fields``:
#: the built-in ``generate``, ``multiple_choice`` and ``loglikelihood``)
OutputType = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationConfig(_Strict):
    """Greedy decoding settings for ``generate`` tasks."""

    max_new_tokens: int = Field(64, ge=1, le=4096, description="tokens generated at most")
    stop: list[str] = Field(default_factory=lambda: ["\n"], description="stop sequences")


class DatasetConfig(_Strict):
    """Arguments of ``datasets.load_dataset``. Relative paths resolve against the YAML file."""

    path: str = Field(description="a hub id, a builder name such as 'json', or a local path")
    name: str | None = Field(None, description="the dataset configuration name")
    data_files: dict[str, str] | None = Field(None, description="split name -> file")
    revision: str | None = Field(None, description="a hub revision (commit, tag, branch)")


class SplitConfig(_Strict):
    """Where one named medlethe split comes from."""

    source: str = Field(description="the dataset split to read (e.g. 'validation')")
    where: str | None = Field(None, description="a Jinja2 expression over a row; keep if true")


class MetricSpec(_Strict):
    """One metric of a task, by registered name, with its arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    optional: bool = Field(
        False, description="skip (with a message) instead of failing when a dependency is missing"
    )


class TaskConfig(_Strict):
    """A task defined in YAML. See docs/tasks.md for a worked example."""

    schema_version: Literal[1] = Field(description="the task schema version; 1")
    task: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$", description="registered name")
    version: str = Field(description="the task's version; bump it when prompts or data change")
    description: str = ""
    output_type: OutputType = Field(
        description="the task's kind: generate, multiple_choice, loglikelihood, or a "
        "plugin kind that reads YAML fields (medlethe kinds)")
    dataset: DatasetConfig
    splits: dict[str, SplitConfig] = Field(min_length=1)
    doc_to_text: str = Field(description="Jinja2 template of the prompt")
    doc_to_target: str | None = Field(None, description="Jinja2 template of the gold answer")
    doc_to_choice: str | None = Field(None, description="Jinja2 expression: list of options")
    doc_to_gold: str | None = Field(None, description="Jinja2 expression: index of the answer")
    target_delimiter: str = Field(" ", description="put between prompt and each continuation")
    generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig())
    metrics: list[MetricSpec] = Field(default_factory=list)
    on_invalid_row: Literal["error", "skip"] = Field(
        "error",
        description="a row that cannot become an instance: 'error' (default) stops with the "
        "file, row and field; 'skip' leaves it out and records its row number in the results",
    )

    @model_validator(mode="after")
    def _fields_for_kind(self) -> TaskConfig:
        from medlethe.kind import find_kind, yaml_kinds

        kind = find_kind(self.output_type)
        if kind is None or not kind.yaml_fields:
            raise ValueError(
                f"output_type {self.output_type!r} is not a kind a YAML task can have; "
                f"use one of {', '.join(yaml_kinds())} (or install the plugin of yours)")
        missing = [f for f in kind.yaml_fields if getattr(self, f) is None]
        if missing:
            raise ValueError(f"output_type {self.output_type} needs {' and '.join(missing)}")
        return self


def _model_at(loc: Sequence[int | str]) -> type[BaseModel]:
    """The config model that holds the key at ``loc`` (dict keys and list indices are
    stepped over), so an unknown nested key lists the keys allowed where it is."""
    model: type[BaseModel] = TaskConfig
    for part in loc:
        fld = model.model_fields.get(str(part))
        if fld is None:
            continue
        nested = [a for a in (fld.annotation, *_deep_args(fld.annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested:
            model = nested[0]
    return model


def _deep_args(annotation: Any) -> list[Any]:
    out = []
    for arg in get_args(annotation):
        out += [arg, *_deep_args(arg)]
    return out


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            model = _model_at(err["loc"][:-1])
            allowed = ", ".join(model.model_fields)
            parent = loc.rsplit(".", 1)[0]
            where = "top-level keys" if model is TaskConfig else f"keys under {parent}"
            msg = f"unknown key; allowed {where} are: {allowed}"
        lines.append(f"  - field {loc}: {msg}")
    return (
        f"Task file {path} is not a valid medlethe task (schema version "
        f"{TASK_SCHEMA_VERSION}):\n" + "\n".join(lines) + "\nFix the fields above; "
        "'medlethe validate FILE' re-checks the file."
    )


def read_task_yaml(path: Path) -> dict[str, Any]:
    """Parse a task YAML file into a mapping, with errors that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskConfigError(f"Cannot read task file {path}: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskConfigError(f"Task file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaskConfigError(
            f"Task file {path} must hold a mapping of keys (task:, version:, ...), "
            f"not {type(raw).__name__}."
        )
    return raw


def load_task_config(path: str | Path) -> TaskConfig:
    """Read and validate a task YAML file."""
    path = Path(path)
    raw = read_task_yaml(path)
    try:
        return TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise TaskConfigError(_format_validation_error(path, exc)) from exc
