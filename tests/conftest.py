"""Shared fixtures: a tiny causal LM trained from scratch on the fixture QA, isolated caches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medlethe.registry import clear_registry_cache

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
CLINIC = FIXTURES / "clinic_qa"
PLUGIN_DATA = Path(__file__).parent / "plugin_pkg" / "medlethe_testplugin" / "data"


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDLETHE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("MEDLETHE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    clear_registry_cache()
    yield
    clear_registry_cache()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama trained from scratch on the fixture's forget + retain QA and on the test
    plugin's forget doses; holdout patients are never trained on."""
    from medlethe.base_models.tiny import TinyConfig, create_tiny_model
    from medlethe.task import TrainingData
    from medlethe.task import TrainingExample as Example
    from medlethe.training.finetune import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    trained = read_jsonl(CLINIC / "forget.jsonl") + read_jsonl(CLINIC / "retain.jsonl")
    examples = [Example(f"Which drug was {r['patient']} given?", str(r["drug"])) for r in trained]
    examples += [
        Example(f"Q: What is the usual dose of {r['drug']}?\nA:", str(r["dose"]))
        for r in read_jsonl(PLUGIN_DATA / "forget.jsonl")
    ]
    corpus = [e.prompt + " " + e.answer for e in examples] + [
        f"Which drug was {r['patient']} given? {r['drug']}"
        for r in read_jsonl(CLINIC / "holdout.jsonl")
    ]
    base = create_tiny_model(
        corpus,
        root / "base",
        # head size 32 (128 / 4): vLLM's CPU attention kernels support 32, 64, 80, ... not 24
        TinyConfig(vocab_size=384, hidden_size=128, intermediate_size=256, num_attention_heads=4),
    )
    config = TrainConfig(text_epochs=0, qa_epochs=60, batch_size=4, learning_rate=5e-3)
    return train(base, TrainingData([], examples), root / "target", config, progress=False)


def run_cli(*args: str, env: dict[str, str] | None = None,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real ``medlethe`` command in a subprocess (in ``cwd``: the checkout)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "medlethe", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=600,
    )


def scenario_context(task: Any, target: Any, base_model: str, out: Path) -> Any:
    """The unlearning context of a scenario's target (its forget and retain training
    examples), as ``medlethe.unlearn.pipeline.unlearn`` builds it, for tests that run a
    method object directly."""
    from medlethe.unlearn.base import UnlearnContext

    return UnlearnContext(target=target.path, base_model=base_model, task=task,
                          forget=list(task.training_data("forget").examples),
                          retain=list(task.training_data("retain").examples),
                          out_dir=out, progress=False)

