"""``ForgetMI/release``: Forget-MI as the authors' released code runs it
(``training/forgetmi_partial.py`` with the shipped ``config.yaml``), beside medlethe's
``ForgetMI`` (:mod:`medlethe.methods.forget_mi`), which follows the paper's intent.

What the release does, read from its code (facts, not code), and so this method:

* the noised copy of each forget study: the report noised once (:mod:`.text_noise`, level
  0.5), the image with Gaussian noise (mean 0, std 0.1, clipped to [0, 1]) drawn again at
  every pass;
* per batch, the four distances of :mod:`.forget_mi_losses` (UR, UU, MU, MR), but each joint
  embedding made by a *fresh, untrained* gate (a new one for every embedding and batch);
* ``use_noise: false`` as shipped: UU and MU are *maximised* (forget embeddings pushed away
  from the original model's embeddings of the noised copies); ``use_noise=True`` minimises;
* weights 1, 1, 2, 2 normalised and rounded to two decimals (0.17, 0.17, 0.33, 0.33);
* pass 0 takes no step: it sets the retention ceilings (the last batch's UR and MR + 1);
* every later pass accumulates the gradients of all its batches into one AdamW step
  (lr 1e-4, weight decay 0.01 except biases and LayerNorm, no clipping, no schedule);
  30 passes, batch 16; forget batches in a fixed order, retain batches drawn anew each pass;
  the original model runs in training mode (dropout on), as the release leaves it.

The release evaluates the image head: run it with ``--backend-args head=image`` so that the
target, the oracle and every method are read the same way.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from medlethe.methods.forget_mi import IMAGE, embeddings
from medlethe.methods.forget_mi_losses import PAPER_WEIGHTS, Embeddings, distance
from medlethe.methods.text_noise import (
    EMBEDDED_SYNONYMS,
    RELEASE_KEYWORDS,
    Synonyms,
    release_noise,
)
from medlethe.unlearn import Method, MethodError, UnlearnContext, UnlearnOutput

META = "medlethe_unlearn.json"


class ForgetMIReleaseParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(30, ge=2, description="passes over the forget set; the first takes "
                        "no step (it sets the retention ceilings)")
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-4, gt=0, description="AdamW, constant")
    weight_decay: float = Field(0.01, ge=0, description="not on biases and LayerNorm")
    max_length: int = Field(128, ge=8, description="tokens per report (release: 320)")
    weights: tuple[float, float, float, float] = Field(
        PAPER_WEIGHTS, description="UR, UU, MU, MR, normalised and rounded to 2 decimals")
    use_noise: bool = Field(False, description="minimise UU and MU (release ships false: "
                            "maximise them)")
    image_noise_mean: float = 0.0
    image_noise_std: float = Field(0.1, ge=0)
    text_noise_level: float = Field(0.5, ge=0, le=1)
    synonyms: str | None = Field(None, description="a CSV of first_word, second_word, "
                                 "similarity (default: medlethe's table for synthclinic-cxr)")
    keywords: tuple[str, ...] = Field(RELEASE_KEYWORDS, description="masked as [NOISE]")
    seed: int = 0
    checkpoint_every: int = Field(5, ge=1, description="passes between checkpoints")


def release_weights(weights: tuple[float, float, float, float]) -> tuple[float, ...]:
    """The release's normalisation: each weight over their sum, rounded to 2 decimals."""
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise MethodError(f"ForgetMI/release: weights must be >= 0, not all 0: {weights}")
    return tuple(round(w / sum(weights), 2) for w in weights)


def fresh_gate(image: Any, text: Any, gen: Any) -> Any:
    """A gated unit (fusion-tiny's form) with new random weights, nn.Linear's default
    range U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from ``gen``: the release builds an
    untrained gate for every joint embedding (its Gate class is not published)."""
    import torch
    from torch.nn.functional import linear

    def layer(n_in: int, n_out: int) -> tuple[Any, Any]:
        bound = n_in ** -0.5
        w = torch.empty(n_out, n_in).uniform_(-bound, bound, generator=gen)
        b = torch.empty(n_out).uniform_(-bound, bound, generator=gen)
        return w.to(image.device, image.dtype), b.to(image.device, image.dtype)

    e = image.shape[-1]
    z = torch.sigmoid(linear(torch.cat([image, text], -1), *layer(2 * e, e)))
    return z * torch.tanh(linear(image, *layer(e, e))) + (1 - z) * torch.tanh(
        linear(text, *layer(text.shape[-1], e)))


class ForgetMIRelease(Method):
    """Forget-MI as released: forget embeddings pushed from noised copies, one step a pass."""

    Params: ClassVar[type[BaseModel]] = ForgetMIReleaseParams
    output_types = frozenset({"classify"})
    modalities = IMAGE

    def unlearn(self, ctx: UnlearnContext) -> UnlearnOutput:
        import torch

        from medlethe.training import (
            DeviceSettings,
            LoopConfig,
            Runtime,
            finish,
            load_classifier,
            param_groups,
            train_steps,
            work_dir,
        )
        from medlethe.unlearn import backward

        p = self.params
        started = time.perf_counter()
        if not ctx.forget or not ctx.retain:
            raise MethodError("ForgetMI/release needs forget and retain studies")
        if not all(ex.image for ex in [*ctx.forget, *ctx.retain]):
            raise MethodError("ForgetMI/release: every study needs an image")
        # the target's precision; batches whole, as released (no micro-batches)
        settings = DeviceSettings.of(ctx.train_config)
        runtime = Runtime(dataclasses.replace(settings, gradient_accumulation_steps=1),
                          name="ForgetMI/release (each step sums a whole pass)")
        torch.manual_seed(p.seed)
        tok, model = load_classifier(ctx.target)
        model = runtime.place(model)
        ref = runtime.place_frozen(load_classifier(ctx.target, trainable=False)[1])
        ref.train()  # dropout on, as released
        run = _Passes(p, ctx, runtime, tok, model, ref)
        a, b, t, g = release_weights(p.weights)
        gen0 = run.generator(0)  # pass 0: the ceilings, from its last batch; no step
        model.train()
        with torch.no_grad():
            order0 = run.retain_order(0)
            first = [run.terms(order0, i, gen0) for i in range(run.n_batches)]
        ceil_ur, ceil_mr = first[-1][0] + 1, first[-1][3] + 1
        firsts = {n: round(float(v), 4) for n, v in zip(("ur", "uu", "mu", "mr"), first[0],
                                                        strict=True)}

        def grads_at(step: int) -> tuple[Any, dict[str, str]]:
            epoch = step + 1
            gen, order = run.generator(epoch), run.retain_order(epoch)
            total = torch.zeros((), device=runtime.device)
            for i in range(run.n_batches):
                ur, uu, mu, mr = run.terms(order, i, gen)
                loss = (a * torch.minimum(ur, ceil_ur) + b * uu + t * mu
                        + g * torch.minimum(mr, ceil_mr))
                backward(loss)  # summed over the pass's batches, one step (as released)
                total = total + loss.detach()
            return total / run.n_batches, {}

        loop = LoopConfig(p.learning_rate, p.weight_decay, 0.0, None, p.checkpoint_every,
                          schedule="constant", no_decay=("bias", "LayerNorm"))
        named = [(n, x) for n, x in model.named_parameters() if x.requires_grad]
        work = work_dir(ctx.out_dir)
        train_steps(model, param_groups(named, loop), p.epochs - 1, grads_at, loop, work,
                    desc=f"unlearn {self.name}", progress=ctx.progress, runtime=runtime)
        model.save_pretrained(work)
        tok.save_pretrained(work)
        meta = {
            "method": self.name, "method_version": self.version, "params": p.model_dump(),
            "steps": p.epochs - 1, "n_forget": len(run.forget), "n_retain": len(run.retain),
            "trainable_parameters": sum(x.numel() for _, x in named),
            "method_info": {"weights": [a, b, t, g], "first_terms": firsts,
                            "ceilings": [round(float(ceil_ur), 4), round(float(ceil_mr), 4)]},
            "runtime": runtime.describe(),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return UnlearnOutput(path=finish(work, ctx.out_dir, META, meta), meta=meta)


class _Passes:
    """The release's passes over the forget studies: the encoded data, its noised copies,
    and the four distance terms of one batch."""

    def __init__(self, p: ForgetMIReleaseParams, ctx: UnlearnContext, runtime: Any,
                 tok: Any, model: Any, ref: Any) -> None:
        from medlethe.training import encode_text, load_images

        self.p, self.runtime, self.model, self.ref = p, runtime, model, ref
        self.pad = tok.pad_token_id
        synonyms = Synonyms.read(p.synonyms or EMBEDDED_SYNONYMS)
        rng = random.Random(f"{p.seed}:forget-mi-release:text")
        noised = [release_noise(ex.text, rng, p.text_noise_level, synonyms, p.keywords)
                  for ex in ctx.forget]
        self.k, self.multi = len(ctx.task.classes), ctx.task.multi_label
        self.forget = [encode_text(tok, ex, p.max_length) for ex in ctx.forget]
        self.noised_ids = [tok(t, truncation=True, max_length=p.max_length).input_ids
                           for t in noised]
        self.retain = [encode_text(tok, ex, p.max_length) for ex in ctx.retain]
        self.clean_pixels = load_images([str(ex.image) for ex in ctx.forget]).to(
            runtime.device)
        self.sign = 1.0 if p.use_noise else -1.0
        self.n_batches = -(-len(self.forget) // p.batch_size)

    def inputs(self, items: list[Any]) -> dict[str, Any]:
        from medlethe.training import collate_texts

        ids, mask, _, pixels = self.runtime.batch(
            collate_texts(items, self.pad, self.k, self.multi))
        return {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels}

    def retain_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.retain)))
        random.Random(f"{self.p.seed}:retain:{epoch}").shuffle(order)
        return order

    def generator(self, epoch: int) -> Any:
        import torch

        torch.manual_seed(self.p.seed * 1000 + epoch)  # dropout masks of this pass
        return torch.Generator().manual_seed(self.p.seed * 1000 + epoch)

    def terms(self, order: list[int], batch: int, gen: Any) -> tuple[Any, ...]:
        """UR, UU, MU, MR of one batch of a pass whose retain rows come in ``order``
        (gradients through the model)."""
        import torch

        from medlethe.training import right_pad

        p, size = self.p, self.p.batch_size
        idx = list(range(batch * size, min(len(self.forget), (batch + 1) * size)))
        r_idx = [order[(batch * size + j) % len(order)] for j in range(size)]
        noise = torch.randn(self.clean_pixels[idx].shape, generator=gen).to(
            self.runtime.device)
        pixels = (self.clean_pixels[idx] + p.image_noise_mean + p.image_noise_std * noise)
        ids, mask = self.runtime.batch(right_pad([self.noised_ids[i] for i in idx], self.pad))
        rand = {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels.clamp(0, 1)}
        r_in = self.inputs([self.retain[i] for i in r_idx])
        with torch.no_grad():
            og_r, og_n = embeddings(self.ref(**r_in)), embeddings(self.ref(**rand))
        ul_r = embeddings(self.model(**r_in))
        ul_f = embeddings(self.model(**self.inputs([self.forget[i] for i in idx])))

        def joint(e: Embeddings) -> Any:
            return fresh_gate(e.image, e.text, gen)

        ur = distance(ul_r.unimodal, og_r.unimodal)
        uu = distance(ul_f.unimodal, og_n.unimodal)
        mu = distance(joint(ul_f), joint(og_n))
        mr = distance(joint(ul_r), joint(og_r))
        return ur, self.sign * uu, self.sign * mu, mr
