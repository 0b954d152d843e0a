"""``tiny``: a small Llama-architecture model with its own byte-level BPE tokenizer.

It knows nothing before it is trained, so anything it answers was learnt from the task
pack. Saved as a standard Hugging Face folder that transformers and vLLM both load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_position_embeddings: int = 256
    seed: int = 0

    def layers(self) -> dict[str, Any]:
        """The architecture's sizes, as keyword arguments of a transformers config."""
        return {k: getattr(self, k) for k in ("hidden_size", "intermediate_size",
                                              "num_hidden_layers", "num_attention_heads",
                                              "max_position_embeddings")}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` that prepends BOS to every input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )


def create_tiny_model(texts: Iterable[str], out_dir: str | Path, config: TinyConfig) -> Path:
    """Train the tokenizer on ``texts``, initialise a random Llama, save both to ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tok = train_tokenizer(texts, config.vocab_size)
    torch.manual_seed(config.seed)
    llama = LlamaConfig(
        vocab_size=len(tok),
        **config.layers(),
        num_key_value_heads=config.num_attention_heads,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(llama)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "medlethe_tiny.json").write_text(
        json.dumps(asdict(config), indent=2), encoding="utf-8"
    )
    return out
