"""``fusion-tiny``: a small late-fusion image + text classifier (Forget-MI's setting).

A 3-layer CNN encodes the image, a 2-layer BERT (WordPiece trained on the pack's reports)
the text; a gated multimodal unit joins them (z = sigmoid(W [i; t]), joint = z tanh(W_i i) +
(1 - z) tanh(W_t t)); three heads give image, text and joint logits. The joint logits are
the model's output (``logits``); the embeddings are returned for Forget-MI's losses.
Training minimises the sum of the cross-entropies of the heads named in
``loss_heads`` (all three by default, so that each head classifies on its own, as the
image and text heads of the Forget-MI release's model do); the hf backend reads another
head's logits with ``--backend-args head=image``.

It is a transformers ``PreTrainedModel`` registered with ``AutoConfig`` and
``AutoModelForSequenceClassification`` (model type ``medlethe-fusion``), so it is saved and
loaded like any sequence classifier; ``forward`` takes ``pixel_values`` (batch, 1, H, W,
floats in [0, 1]) beside ``input_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertModel,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils.generic import ModelOutput

MODEL_TYPE = "medlethe-fusion"
#: bump when the architecture or the training loss changes (part of the cache key);
#: 2: the image and text heads are trained beside the joint one, and the image encoder
#: keeps PyTorch's initialisation
FUSION_VERSION = "2"
HEADS = ("joint", "image", "text")


class FusionConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 2048,
        hidden_size: int = 64,
        image_size: int = 64,
        channels: int = 16,
        embed_size: int = 64,
        max_position_embeddings: int = 128,
        pad_token_id: int = 0,
        loss_heads: tuple[str, ...] | list[str] = HEADS,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(loss_heads) - set(HEADS))
        if unknown or not loss_heads:
            raise ValueError(f"fusion-tiny: loss_heads must be some of {HEADS}, got "
                             f"{list(loss_heads)}")
        self.loss_heads = list(loss_heads)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.image_size = image_size
        self.channels = channels
        self.embed_size = embed_size
        self.max_position_embeddings = max_position_embeddings
        super().__init__(**kwargs)
        self.pad_token_id = pad_token_id


@dataclass
class FusionOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    joint_logits: Any = None
    image_logits: Any = None
    text_logits: Any = None
    image_embeds: Any = None
    text_embeds: Any = None
    joint_embeds: Any = None


class FusionForClassification(PreTrainedModel):
    config_class = FusionConfig
    base_model_prefix = "fusion"

    def __init__(self, config: FusionConfig) -> None:
        super().__init__(config)
        c, e, k = config.channels, config.embed_size, int(config.num_labels or 2)
        self.image_encoder = nn.Sequential(
            nn.Conv2d(1, c, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16 * c, e),
        )
        self.text_encoder = BertModel(BertConfig(
            vocab_size=config.vocab_size, hidden_size=config.hidden_size,
            num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=2 * config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            pad_token_id=config.pad_token_id,
        ), add_pooling_layer=False)
        self.text_projection = nn.Linear(config.hidden_size, e)
        self.gate = nn.Linear(2 * e, e)
        self.image_transform = nn.Linear(e, e)
        self.text_transform = nn.Linear(e, e)
        self.image_head = nn.Linear(e, k)
        self.text_head = nn.Linear(e, k)
        self.joint_head = nn.Linear(e, k)
        for name, module in self.named_modules():  # all but the BERT: PyTorch's own init
            if name and not name.startswith("text_encoder") and hasattr(module,
                                                                         "reset_parameters"):
                module._medlethe_torch_init = True
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """transformers' initialisation (normal, std 0.02) for the BERT; PyTorch's default
        for the CNN, the projections, the gate and the heads: under std 0.02 the three
        convolutions shrank the image embedding to std 6e-4 and the image head never left
        the majority grade."""
        if getattr(module, "_medlethe_torch_init", False):
            module.reset_parameters()  # type: ignore[operator]
        else:
            super()._init_weights(module)

    def get_input_embeddings(self) -> nn.Module:
        return self.text_encoder.get_input_embeddings()

    def forward(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        pixel_values: Any = None,
        labels: Any = None,
        token_type_ids: Any = None,
        **_: Any,
    ) -> FusionOutput:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask)
        mask = attention_mask.unsqueeze(-1).float() if attention_mask is not None else None
        states = hidden.last_hidden_state
        pooled = ((states * mask).sum(1) / mask.sum(1).clamp_min(1.0) if mask is not None
                  else states.mean(1))
        text = self.text_projection(pooled)
        if pixel_values is None:
            raise ValueError("fusion-tiny needs pixel_values (the image of each text)")
        image = self.image_encoder(pixel_values)
        z = torch.sigmoid(self.gate(torch.cat([image, text], dim=-1)))
        joint = z * torch.tanh(self.image_transform(image)) + (1 - z) * torch.tanh(
            self.text_transform(text))
        heads = {"joint": self.joint_head(joint), "image": self.image_head(image),
                 "text": self.text_head(text)}
        loss = None
        if labels is not None:
            loss = sum(nn.functional.cross_entropy(heads[h], labels)
                       for h in self.config.loss_heads)
        return FusionOutput(
            loss=loss, logits=heads["joint"], joint_logits=heads["joint"],
            image_logits=heads["image"],
            text_logits=heads["text"], image_embeds=image, text_embeds=text,
            joint_embeds=joint,
        )


AutoConfig.register(MODEL_TYPE, FusionConfig, exist_ok=True)
AutoModelForSequenceClassification.register(FusionConfig, FusionForClassification,
                                            exist_ok=True)
