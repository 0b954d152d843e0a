"""Forget-MI (arXiv 2506.23145) and its baselines, for image + text classifiers
(``fusion-tiny`` on synthclinic-cxr, or any model whose output carries ``image_embeds``,
``text_embeds`` and ``joint_embeds``).

``ForgetMI`` minimises the four losses of :mod:`medlethe.methods.forget_mi_losses` on the
shared loop (one optimiser step per batch). The noised copy of a forget sample, made once
with the seed: Gaussian noise on the image (``image_noise``, in units of the [0, 1] pixel
range, clipped), and in the report adjacent-word swaps (``word_swap``) and character
replacements (``char_noise``) per word. Baselines: ``RetainFineTune`` (cross-entropy on
retain), ``NegGrad+`` (minus cross-entropy on forget plus cross-entropy on retain),
``FullGradAscent`` (minus cross-entropy on forget), all parameters; ``Retrain`` is the oracle.
"""

from __future__ import annotations

import random
import string
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from medlethe.methods.forget_mi_losses import (
    PAPER_WEIGHTS,
    Embeddings,
    forget_mi_loss,
    forget_mi_terms,
)
from medlethe.unlearn import (
    Batch,
    LossMethod,
    MethodError,
    MethodParams,
    UnlearnContext,
    knobs,
)

CLASSIFY = frozenset({"classify"})
IMAGE = frozenset({"image"})


class _Multimodal(LossMethod):
    output_types = CLASSIFY
    modalities = IMAGE


class ForgetMIParams(MethodParams):
    epochs: float = Field(20.0, gt=0, description="passes over the forget set")
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    max_length: int = Field(128, ge=8)
    weights: tuple[float, float, float, float] = Field(
        PAPER_WEIGHTS, description="UR, UU, MU, MR before normalising to sum 1 (paper: 1,1,2,2)"
    )
    image_noise: float = Field(0.3, ge=0, description="std of the Gaussian image noise")
    word_swap: float = Field(0.3, ge=0, le=1, description="chance to swap a word with the next")
    char_noise: float = Field(0.3, ge=0, le=1, description="chance to replace a letter of a word")


def noisy_text(text: str, rng: random.Random, swap: float, chars: float) -> str:
    """Adjacent-word swaps and one replaced letter per chosen word."""
    words = text.split()
    for i in range(len(words) - 1):
        if rng.random() < swap:
            words[i], words[i + 1] = words[i + 1], words[i]
    for i, w in enumerate(words):
        if w and rng.random() < chars:
            j = rng.randrange(len(w))
            words[i] = w[:j] + rng.choice(string.ascii_lowercase) + w[j + 1:]
    return " ".join(words)


def embeddings(output: Any) -> Embeddings:
    missing = [k for k in ("image_embeds", "text_embeds", "joint_embeds")
               if getattr(output, k, None) is None]
    if missing:
        raise MethodError(
            f"ForgetMI needs a model that returns {', '.join(missing)} (an image + text "
            "classifier such as fusion-tiny)."
        )
    return Embeddings(output.image_embeds, output.text_embeds, output.joint_embeds)


class ForgetMI(_Multimodal):
    """Forget-MI: forget embeddings to their noised copies', retain embeddings kept."""

    front_space = knobs(
        weights=((1.0, 1.0, 2.0, 2.0), (1.0, 1.0, 1.0, 1.0), (2.0, 2.0, 1.0, 1.0)),
        image_noise=(0.1, 0.3, 0.6))

    Params: ClassVar[type[BaseModel]] = ForgetMIParams
    needs_reference = True

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        import torch

        from medlethe.training import load_images

        p = self.params
        rng = random.Random(f"{p.seed}:forget-mi")
        gen = torch.Generator().manual_seed(p.seed)
        self.noised_ids: list[list[int]] = []
        images = [ex.image for ex in ctx.forget]
        if not all(images):
            raise MethodError("ForgetMI: every forget example needs an image")
        for ex in ctx.forget:
            text = noisy_text(ex.text, rng, p.word_swap, p.char_noise)
            self.noised_ids.append(
                list(tokenizer(text, truncation=True, max_length=p.max_length).input_ids))
        pixels = load_images([str(i) for i in images])
        noise = torch.randn(pixels.shape, generator=gen) * p.image_noise
        self.noised_pixels = (pixels + noise).clamp(0, 1)
        self.pad = tokenizer.pad_token_id
        self.ceilings: tuple[Any, Any] | None = None
        self.first_terms: dict[str, float] = {}

    def _noised(self, index: list[int], device: Any = "cpu") -> dict[str, Any]:
        from medlethe.training import right_pad

        ids, mask = right_pad([self.noised_ids[i] for i in index], self.pad)
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                "pixel_values": self.noised_pixels[index].to(device)}

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch

        if retain.input_ids is None:
            raise MethodError("ForgetMI needs retain data")
        mine_f = embeddings(model(**forget.inputs()))
        mine_r = embeddings(model(**retain.inputs()))
        with torch.no_grad():
            ref_n = embeddings(ref(**self._noised(forget.index, forget.input_ids.device)))
            ref_r = embeddings(ref(**retain.inputs()))
        terms = forget_mi_terms(mine_f, ref_n, mine_r, ref_r)
        if self.ceilings is None:  # the first values + 1 bound the retention terms
            self.ceilings = (terms.ur.detach() + 1, terms.mr.detach() + 1)
            self.first_terms = {k: round(float(getattr(terms, k).detach()), 4)
                                for k in ("ur", "uu", "mu", "mr")}
        return forget_mi_loss(terms, self.params.weights, self.ceilings)

    def describe(self) -> dict[str, Any]:
        return {"first_terms": self.first_terms}


class _CrossEntropyParams(MethodParams):
    epochs: float = Field(5.0, gt=0, description="passes over the forget set")
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    max_length: int = Field(128, ge=8)


def _ce(model: Any, batch: Batch) -> Any:
    return model(**batch.inputs(), labels=batch.labels).loss


class RetainFineTune(_Multimodal):
    """Fine-tune on the retain set only (cross-entropy), all parameters."""

    Params = _CrossEntropyParams

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return _ce(model, retain)


class NegGradPlus(_Multimodal):
    """NegGrad+: minus cross-entropy on forget plus cross-entropy on retain."""

    Params = _CrossEntropyParams

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return -_ce(model, forget) + _ce(model, retain)


class FullGradAscent(_Multimodal):
    """Gradient ascent on the forget set's cross-entropy, all parameters."""

    Params = _CrossEntropyParams

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return -_ce(model, forget)
