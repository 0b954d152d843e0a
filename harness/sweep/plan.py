"""Sweep plans: the cross product of scenarios, methods, method hyperparameters and seeds.

A plan is a YAML file (``medlethe sweep PLAN.yaml``) or the flags of ``medlethe run``
(``--seeds``, several ``--scenario``). It expands into jobs (:mod:`medlethe.sweep.jobs`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from medlethe.errors import MedletheError
from medlethe.spec import RunFields, RunSpec

#: the splits a front reads (medlethe.sweep.front): forgetting on the first, utility on the others
FRONT_ROLES = ("forget", "retain", "holdout")


class Resources(BaseModel):
    """What one job asks of a Ray worker (ignored by the local executor)."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(1, gt=0, description="CPU cores per job")
    num_gpus: float = Field(0, ge=0, description="GPUs per job (fractions share a GPU)")


class Plan(RunFields):
    """A sweep: every scenario x method variant x seed, each run with the settings it
    shares with ``medlethe run`` (:class:`medlethe.spec.RunFields`)."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    scenarios: list[str] = Field(min_length=1, description="registered task names")
    grid: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict,
        description="per method, lists of values: one variant per combination",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0], min_length=1,
        description="training seeds: fine-tuning, unlearning and the bootstrap",
    )
    output: str | None = Field(None, description="output folder (the CLI's --output wins)")
    resources: Resources = Field(default_factory=Resources)
    front: list[str] = Field(
        default_factory=list, description="methods whose trade-off front the sweep traces: "
        "each over its default search space (Method.front_space) where the grid does not "
        "set it; docs/fronts.md")
    front_splits: dict[str, str] = Field(
        default_factory=dict, description="the splits a front reads for its roles where "
        "they are not forget, retain and holdout, e.g. {forget: forget_train, retain: "
        "retain_train} for the multiple-choice packs' training rows")
    budget_minutes: float | None = Field(
        None, gt=0, description="wall-clock minutes for the sweep's method jobs: those that "
        "would start later are left for the next run of the same plan")

    def spec(self) -> RunSpec:
        """The run spec its jobs share (each puts in its scenario and seed)."""
        shared = {k: getattr(self, k) for k in RunFields.model_fields}
        return RunSpec(**shared, scenario=self.scenarios[0], seed=self.seeds[0])

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds repeat: {seeds}")
        return seeds

    @field_validator("front_splits")
    @classmethod
    def _roles(cls, splits: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(splits) - set(FRONT_ROLES))
        if unknown:
            raise ValueError(f"front_splits names {', '.join(unknown)}: its keys are the "
                             "roles forget, retain and holdout, its values the task's splits")
        return splits

    @field_validator("scenarios")
    @classmethod
    def _distinct_scenarios(cls, scenarios: list[str]) -> list[str]:
        if len(set(scenarios)) != len(scenarios):
            raise ValueError(f"scenarios repeat: {scenarios}")
        return scenarios

    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, methods: list[str] | None) -> list[str] | None:
        if methods is not None and len(set(methods)) != len(methods):
            raise ValueError(f"methods repeat: {methods}")
        return methods

    @field_validator("attacks")
    @classmethod
    def _no_attacks_yet(cls, attacks: list[str]) -> list[str]:
        if attacks:
            raise ValueError(
                "a sweep does not run attacks yet: run 'medlethe run --attacks ...' once per "
                "seed (bench/attacks.py does, and averages over the seeds)")
        return attacks

    @model_validator(mode="after")
    def _front_methods(self) -> Plan:
        if self.front and self.methods is None:
            self.methods = list(self.front)  # a front plan runs its front methods
        stray = sorted(set(self.front) - set(self.methods or self.front))
        if stray:
            raise ValueError(f"front names {', '.join(stray)}, which the plan's methods "
                             "leave out")
        return self

    @field_validator("grid")
    @classmethod
    def _distinct_values(cls, grid: dict[str, dict[str, list[Any]]]) -> dict[
        str, dict[str, list[Any]]
    ]:
        for method, axes in grid.items():
            for key, values in axes.items():
                seen = [json.dumps(v, sort_keys=True) for v in values]
                if len(set(seen)) != len(seen):
                    raise ValueError(f"{method}.{key} repeats a value: {values}")
                if not values:
                    raise ValueError(f"{method}.{key} lists no value")
        return grid

    def variants(
        self, methods: list[str], spaces: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(label, method, hyperparameters) of every method variant: ``NPO`` alone, or
        ``NPO[beta=0.1]``, ``NPO[beta=0.2]`` for a grid over ``beta``. ``spaces``: the
        search space of a method the grid does not set (a front's); its settings come in
        order of how many knobs differ from the method's ``defaults``, so that a sweep cut
        short by its budget has the default and each knob's own effect first."""
        out = []
        for name in methods:
            fixed = dict(self.method_args.get(name, {}))
            axes = self.grid.get(name) or {k: list(v) for k, v in (spaces or {}).get(
                name, {}).items()}
            if not axes:
                out.append((name, name, fixed))
                continue
            keys = sorted(axes)
            combos = list(itertools.product(*(axes[k] for k in keys)))
            if name not in self.grid:
                base = {**(defaults or {}).get(name, {}), **fixed}
                combos.sort(key=lambda c: sum(
                    base.get(k) != v for k, v in zip(keys, c, strict=True)))
            for combo in combos:
                params = {**fixed, **dict(zip(keys, combo, strict=True))}
                tag = ",".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True))
                out.append((f"{name}[{tag}]", name, params))
        return out


def load_plan(path: str | Path) -> Plan:
    """A plan from YAML; a malformed file is an error naming the file and the field."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MedletheError(f"sweep plan {path}: cannot read it ({exc}).") from exc
    except yaml.YAMLError as exc:
        raise MedletheError(f"sweep plan {path}: not valid YAML ({exc}).") from exc
    if not isinstance(raw, dict):
        raise MedletheError(
            f"sweep plan {path}: expected a mapping with at least 'scenarios'; "
            "docs/sweeps.md shows an example."
        )
    try:
        return Plan.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise MedletheError(
            f"sweep plan {path}: {problems}. Fields: {', '.join(Plan.model_fields)}."
        ) from exc
