"""``medlethe new method NAME``: an installable plugin package with one loss method, its
entry point and its tests, ready for ``pip install -e`` (README, "Write a method");
``medlethe new kind NAME``: the same for a kind of task, written from medlethe's worked
example (``tests/kind_pkg``, shipped as ``medlethe.kind_example``) under the new name."""

from __future__ import annotations

import builtins
import keyword
import re
from pathlib import Path

from medlethe import __version__
from medlethe.errors import MedletheError
from medlethe.paths import ensure_dir

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*$")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "The {name} {what} for medlethe."
requires-python = ">=3.10"
dependencies = ["medlethe>={version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# medlethe finds the plugin through this entry point: no change to medlethe itself.
[project.entry-points.medlethe]
{pkg} = "{pkg}.plugin"

[tool.setuptools]
packages = ["{pkg}"]
'''

README = '''\
# {dist}

The `{name}` unlearning method as a medlethe plugin.

```console
pip install -e .                      # medlethe finds it through its entry point
medlethe methods                      # lists {name}
medlethe methods --params {name}      # its hyperparameters
medlethe run --scenario synthclinic/patient-10 --methods {name},GradDiff
pytest tests                          # the method's own tests
```

Edit `{pkg}/method.py`: `loss()` is the method. `medlethe/hookspecs.py` is the manual.
'''

INIT = '''\
"""The {name} unlearning method for medlethe."""
'''

PLUGIN = '''\
"""Registers {name} with medlethe (the entry point in pyproject.toml names this module)."""

from medlethe import Register, hookimpl


@hookimpl
def register_methods(register: Register) -> None:
    # "module:Class" is imported only when the method is used, so `medlethe --help` stays fast
    register("{name}", "{pkg}.method:{cls}",
             description="{name}: ascend the forget loss, descend the retain loss")
'''

METHOD = '''\
"""{name}: gradient difference with weights (edit ``loss`` to make it yours).

loss = - forget_weight * CE(forget) + retain_weight * CE(retain)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medlethe import Batch, LossMethod, MethodParams, nll


class {cls}Params(MethodParams):
    """Every field needs a default and a description; `medlethe methods --params {name}`
    lists them, and a run records them with its results."""

    forget_weight: float = Field(1.0, gt=0, description="weight of the forget term")
    retain_weight: float = Field(1.0, ge=0, description="weight of the retain term")


class {cls}(LossMethod):
    """The shared training loop (optimizer, schedule, LoRA, checkpoints, resume, seeds)
    calls ``loss`` on each forget batch with a retain batch."""

    Params = {cls}Params

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        p = self.params
        return -p.forget_weight * nll(model, forget) + p.retain_weight * nll(model, retain)
'''

TEST = '''\
"""{name}'s own tests: medlethe finds it through the entry point, validates its
hyperparameters, and its loss moves a real (tiny) model the intended way."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from medlethe import Batch, MedletheError, get_registry, nll


def _batch(seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 64, (4, 12), generator=g)
    return Batch(ids, torch.ones_like(ids), ids.clone(), list(range(4)))


def _model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
    ))


def test_registered_with_its_params() -> None:
    method = get_registry().get("method", "{name}").build(retain_weight=2.0)
    assert method.params.retain_weight == 2.0
    with pytest.raises(MedletheError):
        get_registry().get("method", "{name}").build(retain_weight=-1)


def test_a_step_raises_forget_loss_and_lowers_retain_loss() -> None:
    model = _model()
    method = get_registry().get("method", "{name}").build()
    forget, retain = _batch(1), _batch(2)
    before = (nll(model, forget).item(), nll(model, retain).item())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        method.loss(model, None, forget, retain).backward()
        optimizer.step()
    after = (nll(model, forget).item(), nll(model, retain).item())
    assert after[0] > before[0] and after[1] < before[1]
'''


def _registered(name: str) -> str | None:
    """The plugin that registers method ``name`` in this environment, if any."""
    from medlethe.registry import get_registry

    comps = get_registry().components["method"]
    return comps[name].plugin.name if name in comps else None


def new_method(name: str, output: str | Path = ".") -> Path:
    """Write the plugin package of method ``name`` into ``output``; its folder."""
    if not _NAME.match(name):
        raise MedletheError(
            f"method name {name!r}: use letters, digits, '_', '-' or '+', starting with a "
            "letter (e.g. MyLoss)."
        )
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    pkg = f"medlethe_{slug}"
    dist = f"medlethe-{slug.replace('_', '-')}"
    cls = re.sub(r"[^A-Za-z0-9]", "", name[0].upper() + name[1:])
    if keyword.iskeyword(cls) or cls in dir(builtins):
        raise MedletheError(
            f"method name {name!r} would make a Python class named {cls!r}, a reserved word "
            "or built-in name; choose another name (e.g. MyLoss)."
        )
    taken = _registered(name)
    if taken is not None:
        raise MedletheError(
            f"method name {name!r} is already registered by plugin {taken}; two plugins "
            "cannot share a name (every command would refuse both). Choose another name."
        )
    root = ensure_dir(output, "the --output folder") / dist
    if root.exists():
        raise MedletheError(f"{root} exists; choose another --output or remove it.")
    fields = {"name": name, "pkg": pkg, "dist": dist, "cls": cls,
              "version": __version__.split("+")[0]}
    files = {
        "pyproject.toml": PYPROJECT.replace("{what}", "unlearning method"), "README.md": README,
        f"{pkg}/__init__.py": INIT,
        f"{pkg}/plugin.py": PLUGIN, f"{pkg}/method.py": METHOD,
        f"tests/test_{slug}.py": TEST,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**fields), encoding="utf-8")
    return root


KIND_README = '''\
# {dist}

The `{name}` kind of task as a medlethe plugin, written by `medlethe new kind {name}` from
medlethe's worked example (abnormal potassium from a patient's structured visit rows, on a
small MLP): a kind, its model family and model, a backend, a task, a method and two
metrics. It runs as it is; make it yours file by file.

```console
pip install -e .                      # medlethe finds it through its entry point
medlethe kinds                        # lists {name}
medlethe run --model mlp --scenario {name}/lab-abnormality --backend {name} \\
  --methods {name}/GradDiff,Retrain   # fine-tune, unlearn, evaluate, in seconds
pytest tests                          # the package's own test
```

`{pkg}/kind.py` is the kind (`medlethe/kind.py` is its manual), `model.py` the model family
(`medlethe/training/family.py`), `task.py` the data; docs/kinds.md walks through them.
'''

KIND_TEST = '''\
"""{name}'s own test: medlethe finds the kind through the entry point, and a whole run
(fine-tunes, unlearning, evaluation, comparison) goes through on it."""

from __future__ import annotations

import json
from pathlib import Path

from medlethe import get_registry
from medlethe.cli import main


def test_the_kind_runs_end_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path / "cache"))
    assert "{name}" in get_registry().components["kind"]
    assert main(["run", "--model", "mlp", "--scenario", "{name}/lab-abnormality",
                 "--backend", "{name}", "--methods", "{name}/GradDiff",
                 "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [m["label"] for m in summary["models"]] == ["target", "oracle", "{name}/GradDiff"]
'''

_KIND_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def new_kind(name: str, output: str | Path = ".") -> Path:
    """Write the plugin package of kind ``name`` into ``output`` (medlethe's worked example,
    renamed); its folder."""
    from importlib.resources import files

    from medlethe.registry import get_registry

    if not _KIND_NAME.match(name):
        raise MedletheError(
            f"kind name {name!r}: use lowercase letters, digits, '_' or '-', starting with a "
            "letter (e.g. ehr-rows); it is the output_type its tasks give."
        )
    kinds = get_registry().components["kind"]
    if name in kinds:
        raise MedletheError(
            f"kind name {name!r} is already registered by plugin {kinds[name].plugin.name}; "
            "choose another name."
        )
    slug = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
    pkg, dist = f"medlethe_{slug}", f"medlethe-{slug.replace('_', '-')}"
    cls = "".join(part.capitalize() for part in slug.split("_"))
    root = ensure_dir(output, "the --output folder") / dist
    if root.exists():
        raise MedletheError(f"{root} exists; choose another --output or remove it.")
    fields = {"name": name, "pkg": pkg, "dist": dist, "version": __version__.split("+")[0]}
    texts = {"pyproject.toml": PYPROJECT.format(**fields, what="kind of task"),
             "README.md": KIND_README.format(**fields),
             f"tests/test_{slug}.py": KIND_TEST.format(**fields)}
    example = files("medlethe.kind_example")
    for item in sorted(example.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".py"):
            text = item.read_text(encoding="utf-8")
            for old, new in (("medlethe_tabular", pkg), ("medlethe-tabular", dist),
                             ("Tabular", cls), ("tabular", name)):
                text = text.replace(old, new)
            texts[f"{pkg}/{item.name}"] = text
    for rel, text in texts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
