"""Tasks defined by a YAML file: data through ``datasets.load_dataset``, prompts in Jinja2."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.hookspecs import Register
from medlethe.kind import find_kind
from medlethe.task import templates
from medlethe.task.base import Instance, Task, fingerprint
from medlethe.task.config import MetricSpec, TaskConfig, load_task_config, read_task_yaml

#: ``datasets`` builders that read files named by ``data_files``
_LOCAL_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow"})


def quiet_datasets() -> None:
    """No progress bars or info lines from ``datasets`` while it reads local files (there
    is no download to follow; a bar per split floods ``medlethe validate``)."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


class ConfigTask(Task):
    """A task built from a validated :class:`TaskConfig` read from ``path``."""

    def __init__(self, config: TaskConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self.name = config.task
        self.version = config.version
        self.output_type = config.output_type
        #: the YAML fields this task's kind reads (the config validated that it has one)
        self.fields = find_kind(config.output_type).yaml_fields  # type: ignore[union-attr]
        self.description = config.description
        self._docs: dict[str, list[dict[str, Any]]] = {}
        self._skipped: dict[str, list[int]] = {}
        for fld in ("doc_to_text", "doc_to_target"):
            src = getattr(config, fld)
            if src is not None:
                templates.check_syntax(src, origin=str(path), field=fld, root=str(path.parent))
        for fld in ("doc_to_choice", "doc_to_gold"):
            src = getattr(config, fld)
            if src is not None:
                templates.check_syntax(src, origin=str(path), field=fld, expression=True)
        for split, spec in config.splits.items():
            if spec.where is not None:
                templates.check_syntax(
                    spec.where, origin=str(path), field=f"splits.{split}.where", expression=True
                )

    @classmethod
    def from_file(cls, path: str | Path) -> ConfigTask:
        path = Path(path).resolve()
        return cls(load_task_config(path), path)

    def split_names(self) -> list[str]:
        return list(self.config.splits)

    def metric_specs(self) -> list[MetricSpec]:
        return list(self.config.metrics) or super().metric_specs()

    def _resolve(self, value: str) -> str:
        candidate = (self.path.parent / value).resolve()
        return str(candidate) if candidate.exists() else value

    @functools.cached_property
    def _dataset(self) -> Any:
        import datasets  # heavy: imported when data is first read

        ds = self.config.dataset
        data_files = (
            {k: self._resolve(v) for k, v in ds.data_files.items()} if ds.data_files else None
        )
        if ds.path in _LOCAL_BUILDERS:  # files on this machine (not in a hub repository)
            for split, file in (data_files or {}).items():
                if "://" not in file:
                    self._check_data_file(split, file)
            quiet_datasets()
        try:
            return datasets.load_dataset(
                self._resolve(ds.path), ds.name, data_files=data_files, revision=ds.revision
            )
        except FileNotFoundError as exc:
            raise DatasetError(
                f"Task {self.name!r} ({self.path}): dataset {ds.path!r} was not found: {exc}. "
                "Check dataset.path / dataset.data_files, or download the dataset first."
            ) from exc
        except Exception as exc:
            raise DatasetError(
                f"Task {self.name!r} ({self.path}): loading dataset {ds.path!r} failed: "
                f"{exc or type(exc).__name__}"
            ) from exc

    def _check_data_file(self, split: str, file: str) -> None:
        """A local data file exists, has rows and, for JSON Lines, parses line by line, so
        a mistake names the file and line instead of surfacing inside ``datasets``."""
        where = f"Task {self.name!r} ({self.path}), dataset.data_files.{split}"
        path = Path(file)
        if not path.is_absolute():
            raise DatasetError(f"{where}: {file} not found next to the task file.")
        if not path.exists():
            raise DatasetError(f"{where}: {path} not found.")
        if path.is_file() and not path.read_bytes().strip():
            raise DatasetError(f"{where}: {path} is empty: the split has no rows.")
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DatasetError(
                            f"{where}: {path}, line {n}: not valid JSON ({exc.msg}); fix or "
                            "remove that line."
                        ) from exc

    def docs(self, split: str) -> Sequence[Mapping[str, Any]]:
        if split not in self._docs:
            if split not in self.config.splits:
                raise TaskConfigError(
                    f"Task {self.name!r} has no split {split!r}; it has "
                    f"{', '.join(self.config.splits)}."
                )
            spec = self.config.splits[split]
            dataset = self._dataset
            if spec.source not in dataset:
                raise DatasetError(
                    f"Task {self.name!r} ({self.path}), splits.{split}.source: the dataset has "
                    f"no split {spec.source!r}; it has {', '.join(dataset)}."
                )
            rows = [dict(r) for r in dataset[spec.source]]
            if spec.where is not None:
                rows = [
                    r
                    for i, r in enumerate(rows)
                    if templates.evaluate(
                        spec.where, r, origin=str(self.path), field=f"splits.{split}.where", row=i
                    )
                ]
            self._docs[split] = rows
        return self._docs[split]

    def instances(self, split: str, limit: int | None = None) -> list[Instance]:
        """Every row's instance; with ``on_invalid_row: skip`` a row that cannot become one
        (an undefined field, a bad gold index) is left out and counted, else the first such
        row is an error naming the file, row and field."""
        if self.config.on_invalid_row == "error":
            return super().instances(split, limit)
        rows = self.docs(split)
        out: list[Instance] = []
        bad: list[int] = []
        for i, doc in enumerate(rows[:limit] if limit is not None else rows):
            try:
                inst = self.instance(split, i, doc)
            except TaskConfigError:
                bad.append(i + 1)
                continue
            out.append(replace(inst, index=len(out)))
        self._skipped[split] = bad
        return out

    def skipped_rows(self) -> dict[str, list[int]]:
        return {s: rows for s, rows in self._skipped.items() if rows}

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        c, origin = self.config, str(self.path)
        root = str(self.path.parent)
        prompt = templates.render(
            c.doc_to_text, doc, origin=origin, field="doc_to_text", row=index, root=root
        )
        opts: tuple[str, ...] = ()
        gold: int | None = None
        if "doc_to_choice" in self.fields:
            opts, gold = self._choices(doc, index)
            target = opts[gold]
        else:
            assert c.doc_to_target is not None
            target = templates.render(
                c.doc_to_target, doc, origin=origin, field="doc_to_target", row=index, root=root
            )
        generation = c.generation if "generation" in self.fields else None
        return Instance(self.name, split, index, c.output_type, prompt, target, opts, gold,
                        generation=generation, target_delimiter=c.target_delimiter)

    def _choices(self, doc: Mapping[str, Any], index: int) -> tuple[tuple[str, ...], int]:
        """The options of a row and the index of its answer, checked."""
        c, origin = self.config, str(self.path)
        assert c.doc_to_choice is not None and c.doc_to_gold is not None
        choices = templates.evaluate(
            c.doc_to_choice, doc, origin=origin, field="doc_to_choice", row=index
        )
        gold = templates.evaluate(c.doc_to_gold, doc, origin=origin, field="doc_to_gold", row=index)
        if not isinstance(choices, (list, tuple)) or not choices:
            raise TaskConfigError(
                f"{templates.location(origin, 'doc_to_choice', index)}: must give a "
                f"non-empty list, got {type(choices).__name__}"
            )
        at_gold = templates.location(origin, "doc_to_gold", index)
        if isinstance(gold, bool) or not isinstance(gold, int):
            raise TaskConfigError(f"{at_gold}: must give an integer index, got {gold!r}")
        if not 0 <= gold < len(choices):
            raise TaskConfigError(f"{at_gold}: index {gold} is outside the {len(choices)} choices")
        return tuple(str(x) for x in choices), gold

    def provenance(self) -> dict[str, Any]:
        c = self.config
        prompts = [c.doc_to_text, c.doc_to_target, c.doc_to_choice, c.doc_to_gold]
        return {
            "config_hash": fingerprint(c.model_dump(mode="json")),
            "prompt_template_hash": fingerprint(prompts),
            "chat_template": None,
        }


def yaml_task_factory(path: str | Path) -> Callable[[], ConfigTask]:
    """A factory for one YAML task, for ``register(name, factory)``."""
    resolved = Path(path).resolve()

    def factory() -> ConfigTask:
        return ConfigTask.from_file(resolved)

    return factory


def register_yaml_tasks(register: Register, directory: str | Path) -> None:
    """Register every ``*.yaml`` file under ``directory`` by its ``task:`` name.

    Only each file's ``task:`` field is read here; full validation and data loading happen
    when the task is used.
    """
    for path in sorted(Path(directory).rglob("*.yaml")):
        raw = read_task_yaml(path)
        name = raw.get("task")
        if not isinstance(name, str) or not name:
            raise TaskConfigError(f"Task file {path} has no 'task:' name; add one.")
        register(name, yaml_task_factory(path), description=str(raw.get("description", "")))


def load_task_file(path: str | Path) -> ConfigTask:
    """A task straight from a YAML file, unregistered (``--tasks path/to/task.yaml``)."""
    p = Path(path)
    if not p.is_file():
        raise TaskConfigError(f"Task file {p} does not exist.")
    return ConfigTask.from_file(p)
