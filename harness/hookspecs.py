"""The medlethe plugin contract: read this file and you know how to write a plugin.

A plugin is a Python module with one or more functions decorated with
``@medlethe.hookimpl``, exposed through an entry point in the ``medlethe`` group::

    # pyproject.toml of your distribution
    [project.entry-points.medlethe]
    my_plugin = "my_package.plugin"

    # my_package/plugin.py
    import medlethe

    @medlethe.hookimpl
    def register_methods(register):
        register("my-method", "my_package.method:MyMethod")

Every hook below receives a ``register`` callback, ``register(name, factory, *, description="")``:

* ``name``: the component's public name. Names are global: a second plugin registering
  the same name is an error naming both plugins, so prefix names with your pack
  (``mypack/scenario``) where they could clash.
* ``factory``: the class (or any callable) that builds the component, or a string
  ``"module.path:attribute"`` that medlethe imports only when the component is used. Use
  the string form whenever your module imports heavy libraries (torch, vllm, opacus), so
  that ``medlethe --help`` and ``medlethe plugins`` stay fast.
* ``description``: one line, shown by ``medlethe tasks`` / ``methods`` / ``metrics``;
  left out, the first line of the factory's docstring is shown.

A component has one name, the registered one: the registry sets ``name`` (and ``plugin``,
the entry-point name of the plugin that registered it) on every metric, method and backend
it builds (they subclass :class:`Named`), so classes never repeat their names. Everything a
plugin author imports is public in ``medlethe`` (see ``medlethe.__all__``) and in
``medlethe.task``, ``medlethe.metrics``, ``medlethe.unlearn``, ``medlethe.backends`` and
``medlethe.training``.

Built-in components are registered through exactly these hooks (see
``medlethe/plugins/``, ``medlethe/tasks/plugin.py``), so they are examples too. Hooks are
called once per process, when a component is first looked up. Any plugin, built-in or not,
can be switched off with ``medlethe -p no:NAME`` or ``MEDLETHE_DISABLE_PLUGINS=NAME``;
``MEDLETHE_DISABLE_PLUGIN_AUTOLOAD=1`` loads only medlethe's own plugins.

pluggy's opt-in arguments apply: a hook implementation may declare fewer arguments than the
spec, so later versions can add arguments without breaking your plugin. A misspelt hook
name makes loading fail (``check_pending``), naming the plugin.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT = "medlethe"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Named:
    """Base of what the registry builds by name: metrics, run metrics, methods, backends.

    The registry sets ``name`` to the registered name and ``plugin`` to the registering
    plugin's name on each object it builds; an object built directly (in a test) is named
    after its class.
    """

    #: the registering plugin's entry-point name
    plugin: str = "(direct)"
    _name: str | None = None

    @property
    def name(self) -> str:
        """The registered name (the class name when built directly)."""
        return self._name or type(self).__name__

    @name.setter
    def name(self, value: str) -> None:
        self._name = value


class Register(Protocol):
    """The callback every ``register_*`` hook receives."""

    def __call__(
        self, name: str, factory: Any, *, description: str = "", run_metric: bool = False
    ) -> None: ...


# --- What to evaluate -------------------------------------------------------------------


@hookspec
def register_kinds(register: Register) -> None:
    """Register kinds of task: what a task of that ``output_type`` asks a model and how
    its answers become samples.

    ``factory`` builds a :class:`medlethe.Kind` (no arguments). Most packs only add tasks
    of the built-in kinds (``generate``, ``multiple_choice``, ``loglikelihood``,
    ``classify``: ``medlethe/kinds/``); a new kind of data (structured rows, audio) brings
    its own. The contract and its manual: ``medlethe/kind.py``.
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks: benchmarks with named splits (forget, retain, holdout, ...).

    ``factory`` builds a :class:`medlethe.task.Task` when called with keyword arguments
    (usually none). For YAML tasks use :func:`medlethe.task.register_yaml_tasks`, which
    registers every ``*.yaml`` file of a folder under the name its ``task:`` field gives.
    """


# --- How to unlearn -----------------------------------------------------------------------


@hookspec
def register_methods(register: Register) -> None:
    """Register unlearning methods.

    ``factory`` builds a :class:`medlethe.Method` when called with the method's
    hyperparameters as keyword arguments (validated by its pydantic ``Params`` class; bad
    values raise :class:`medlethe.unlearn.MethodError`). ``Method.unlearn(ctx)`` receives an
    :class:`medlethe.UnlearnContext` (the target model folder, the forget and retain
    examples, an output folder) and returns an :class:`medlethe.UnlearnOutput`: full weights,
    or a PEFT adapter on the target. Most methods are a loss: subclass
    :class:`medlethe.LossMethod` and write ``loss(model, ref, forget, retain)`` over two
    :class:`medlethe.Batch` es (helpers: ``medlethe.nll``, ``medlethe.unlearn.sequence_logprob``,
    ``kl_to_reference``); medlethe's one training loop does the rest (optimizer, schedule,
    full or LoRA training, seeds, progress, checkpoints, resume). A method that shapes its
    gradients (projections, masks, per-sample clipping) overrides ``backward``; what it
    returns from ``describe`` is recorded with the unlearned model. ``output_types`` names
    the task kinds a method unlearns (language-model tasks by default; ``{"classify"}`` for
    a sequence classifier, whose batches carry class labels: ``medlethe/methods/steu.py``).
    Example: ``tests/plugin_pkg/medlethe_testplugin/method.py``; built-ins:
    ``medlethe/methods/``.
    """


# --- What might undo it ---------------------------------------------------------------------


@hookspec
def register_attacks(register: Register) -> None:
    """Register attacks: attempts to bring back what an unlearned model was made to forget
    (quantizing its weights, a few steps of fine-tuning, other prompts).

    ``factory`` builds a :class:`medlethe.Attack` when called with the attack's parameters
    as keyword arguments (validated by its pydantic ``Params``). ``Attack.attack(ctx)``
    receives an :class:`medlethe.AttackContext` (the unlearned model, the task, the target's
    training settings, an output folder) and returns an :class:`medlethe.AttackOutput`, the
    attacked model; ``medlethe run --attacks`` evaluates it like any model and records the
    ``recovery_ratio``. The contract: ``medlethe/attack.py``; built-ins:
    ``medlethe/methods/attacks.py``.
    """


# --- How to score ---------------------------------------------------------------------------


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics.

    ``factory`` builds a :class:`medlethe.metrics.Metric` when called with the metric's
    arguments (the ``args`` of a task's ``metrics:`` entry) as keyword arguments. It scores
    one answer at a time (``score``; ``score_all`` to batch, ``prepare`` to load per-task
    resources such as the lexicon) and may declare ``needs`` (gold / perturbed answer
    log-likelihoods).

    Registered with ``run_metric=True``, a factory instead builds a
    :class:`medlethe.metrics.RunMetric`: a metric over whole runs that declares the
    reference runs it needs (``needs_runs``: ``"target"``, ``"oracle"``, or none) and reads
    their stored per-sample values; ``medlethe run`` and ``medlethe compare`` compute it, and
    ``medlethe evaluate`` computes those that need no reference run. Intervals come from
    :mod:`medlethe.metrics.bootstrap`, resampling the task's sampling unit. Definitions:
    ``docs/metrics.md``.
    """


# --- What a sweep shows across its scenarios -----------------------------------------------


@hookspec
def register_analyses(register: Register) -> None:
    """Register sweep analyses: what a task pack computes across a sweep's scenarios (a
    disease-by-disease collateral matrix, curves over forget sizes).

    ``factory`` builds a :class:`medlethe.Analysis` (no arguments): ``compute(rows)`` reads
    the sweep's across-seed rows, ``sections(value, ...)`` shows its value on the sweep's
    page. The contract: ``medlethe/analysis.py``.
    """


# --- Where the model runs ------------------------------------------------------------------


@hookspec
def register_backends(register: Register) -> None:
    """Register model backends (``hf``, ``vllm``, ...).

    ``factory`` builds a :class:`medlethe.backends.Backend` when called as
    ``factory(model=..., adapter=..., **backend_args)``. It overrides the request kinds its
    models answer: ``generate`` and ``loglikelihood`` (causal LMs), ``classify`` (sequence
    classifiers' per-class logits).
    """
