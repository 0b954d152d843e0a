"""The attack contract: an attempt to get back what unlearning removed.

Unlearning can hide knowledge instead of removing it: quantizing the weights, a few steps
of fine-tuning or another prompt may bring it back. An attack takes an unlearned model
and returns an attacked model, attacked prompts, or both; ``medlethe run --attacks
NAME,...`` evaluates the result on the same tasks with the same metrics and compares it
with the target, the oracle and the model before the attack (``recovery_ratio``: 0 when
nothing comes back, 1 when everything does). ``NAME[K=V,...]`` runs an attack with other
parameters (``relearn[steps=5]``), under that label.

Register one with ``register_attacks`` (``medlethe/hookspecs.py``); built-ins in
``medlethe/methods/attacks.py``, an example in ``tests/plugin_pkg``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from medlethe.errors import AttackError
from medlethe.hookspecs import Named
from medlethe.kind import applies
from medlethe.task.base import Task


class NoAttackParams(BaseModel):
    """Parameters of an attack that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class AttackContext:
    """What an attack may use: the unlearned ``model`` (a full model folder, plus
    ``adapter`` where the method wrote a PEFT adapter), the task, the fine-tuning settings
    the target was trained with, a folder of its own and the run's seed."""

    model: Path
    adapter: Path | None
    task: Task
    out_dir: Path
    train_config: Any = None
    seed: int = 0
    progress: bool = True


@dataclass(frozen=True)
class AttackOutput:
    """The attacked model: a full model folder (``path``), or ``path`` plus a PEFT
    ``adapter`` (a prompt attack returns the model it was given); ``prompts``: the prompt to
    ask instead of each prompt (by its text, before any chat template; in every task of the
    run, so a scenario's multiple-choice form of the same questions is attacked too);
    ``meta`` is recorded with the attacked run."""

    path: Path
    adapter: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    prompts: Mapping[str, str] | None = None


class Attack(Named, ABC):
    """Subclass, set ``Params`` (a pydantic model, every field with a default and a
    description) and ``output_types`` (the kinds of task whose models it attacks; the
    language-model kinds by default), and write ``attack``."""

    Params: ClassVar[type[BaseModel]] = NoAttackParams
    output_types: ClassVar[frozenset[str]] = frozenset(
        {"generate", "multiple_choice", "loglikelihood"})

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            raise AttackError(f"attack {self.name}: {exc}") from None

    def unfit(self, task: Task) -> str | None:
        """Why this attack cannot attack ``task``'s models (``None`` where it can): by
        default, a kind it does not serve. Override to ask more of the task (a split)."""
        if applies(self, task):
            return None
        return (f"it attacks models of {', '.join(sorted(self.output_types))} tasks, not "
                f"{task.name!r} ({task.output_type})")

    @abstractmethod
    def attack(self, ctx: AttackContext) -> AttackOutput:
        """Attack the model in ``ctx``; write the attacked model under ``ctx.out_dir``."""
