"""A backend that runs the tabular MLP: ``classify`` requests (a visit as JSON) answered
with the MLP's class logits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medlethe import Backend
from medlethe.backends import ClassifyRequest, ClassifyResult


class MLPBackend(Backend):
    def __init__(self, model: str, adapter: str | None = None, seed: int = 0) -> None:
        super().__init__()
        self.path = Path(model)
        self._model: Any = None

    def fingerprint(self) -> str:
        weights = (self.path / "model.safetensors").read_bytes()
        return "tabular-mlp:" + hashlib.sha256(weights).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"device": "cpu"}  # the model is recorded by medlethe (a path, made portable)

    def classify(self, requests: Sequence[ClassifyRequest]) -> list[ClassifyResult]:
        import torch

        from medlethe_tabular.model import MLP, vector

        if self._model is None:
            self._model = MLP.from_pretrained(self.path).eval()
        self.model_calls += len(requests)
        with torch.no_grad():
            logits = self._model(torch.tensor([vector(r.text) for r in requests])).logits
        return [ClassifyResult(tuple(float(v) for v in row)) for row in logits]
