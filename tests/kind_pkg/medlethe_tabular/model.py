"""The MLP that answers the tabular kind, and its model family: how a base MLP is built,
fine-tuned into a target or an oracle (on medlethe's one training loop, ``fit``), loaded
for unlearning, and how visits become batches."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from medlethe.training import Family, cached_model, fit
from medlethe_tabular.task import FIELDS

#: a feature's offset and scale, so that every input is of order one
SCALE = {"age": (60.0, 20.0), "sex": (0.5, 0.5), "creatinine": (1.4, 0.5),
         "diabetes": (0.5, 0.5), "ace_inhibitor": (0.5, 0.5)}


def vector(text: str) -> list[float]:
    row = json.loads(text)
    return [(float(row[k]) - SCALE[k][0]) / SCALE[k][1] for k in FIELDS]


class Output:
    def __init__(self, logits: torch.Tensor, loss: torch.Tensor | None) -> None:
        self.logits, self.loss = logits, loss


class MLP(torch.nn.Module):
    """Features in ``input_ids`` (floats), class logits out; ``labels`` give the loss."""

    def __init__(self, hidden: int = 64, n_classes: int = 2) -> None:
        super().__init__()
        self.hidden, self.n_classes = hidden, n_classes
        self.net = torch.nn.Sequential(
            torch.nn.Linear(len(FIELDS), hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes))

    def forward(self, input_ids: torch.Tensor, attention_mask: Any = None,
                labels: torch.Tensor | None = None) -> Output:
        logits = self.net(input_ids)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return Output(logits, loss)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text(json.dumps(
            {"model_type": "medlethe-tabular-mlp", "hidden": self.hidden,
             "n_classes": self.n_classes}))
        save_file({k: v.contiguous() for k, v in self.state_dict().items()},
                  str(Path(folder) / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> MLP:
        from safetensors.torch import load_file

        config = json.loads((Path(folder) / "config.json").read_text())
        model = cls(config["hidden"], config["n_classes"])
        model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
        return model


@dataclass(frozen=True)
class MLPConfig:
    """Training arguments of the MLP (``--train-args``)."""

    epochs: int = 150
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 5.0
    seed: int = 0
    checkpoint_every: int = 1000


class MLPFamily(Family):
    title = "tabular MLP"
    models = ("mlp",)
    config_type = MLPConfig

    def resolve(self, name: str, task: Any) -> str | None:
        if name != "mlp":
            return None

        def build(folder: Path) -> None:
            torch.manual_seed(0)
            MLP(n_classes=len(task.classes)).save_pretrained(folder)

        return str(cached_model("tabular-mlp", [len(task.classes), "v1"], build))

    def default_config(self, model: str) -> MLPConfig:
        return MLPConfig()

    def train(self, base: str, data: Any, out: Path, config: Any, *, progress: bool,
              desc: str) -> Path:
        import random

        torch.manual_seed(config.seed)
        model = MLP.from_pretrained(base)
        x = torch.tensor([vector(e.text) for e in data.examples])
        y = torch.tensor([e.labels[0] for e in data.examples])
        plan = []
        for epoch in range(config.epochs):
            order = list(range(len(x)))
            random.Random(f"{config.seed}:{epoch}").shuffle(order)
            size = config.batch_size
            plan += [order[i:i + size] for i in range(0, len(order), size)]

        def loss_of(rows: list[int], runtime: Any) -> Any:
            features, labels = runtime.batch([x[rows], y[rows]])
            return model(features, labels=labels).loss

        return fit(model, plan, loss_of, config, out, model.save_pretrained, desc=desc,
                   progress=progress, meta={"train_config": asdict(config)})

    def load(self, path: str | Path, *, trainable: bool = True, dtype: Any = None
             ) -> tuple[Any, Any]:
        model = MLP.from_pretrained(path)
        if not trainable:
            model.eval().requires_grad_(False)
        return None, model

    def encode(self, tokenizer: Any, example: Any, max_length: int) -> Any:
        return vector(example.text), example.labels[0]

    def batch(self, tokenizer: Any, items: list[Any], task: Any) -> tuple[Any, Any, Any, Any]:
        return (torch.tensor([v for v, _ in items]), None,
                torch.tensor([label for _, label in items]), None)


MLP_FAMILY = MLPFamily()
