"""DuoLearn: Fisher-masked, retain-orthogonal gradient unlearning with concept-aware token
weights and optional DP-LoRA.

The paper (seed 001, "Hierarchical Dual-Strategy Unlearning for Biomedical and Healthcare
Intelligence") publishes no formulas in our material (spec §4): every formula below is
medlethe's formulation of its four components, each switchable.

Per step, with forget batch D_f and retain batch D_r:

1. token weights w_t (concept-aware): L_f = sum_t w_t log p(y_t | x, y_<t) / sum_t w_t over
   the forget answers' tokens (minimising it is gradient ascent on the weighted NLL); w_t is
   ``forget_concept_weight`` on tokens inside a concept found only among forgotten items,
   ``shared_concept_weight`` inside one shared with retained items, 1 elsewhere;
2. g_r = grad(alpha CE(D_r)), g_f = grad(L_f), restricted to the Fisher-selected coordinates;
3. projection: U = an orthonormal basis (QR) of the last ``projection_rank`` retain gradients
   (the current one included); g_f <- g_f - U U^T g_f, so the forget step does not change the
   retain loss to first order;
4. the step's gradient is g_f + g_r (per-sample clipped and noised under DP-LoRA).

Fisher selection: F_f and F_r are the diagonal empirical Fisher (mean squared per-batch
gradient of CE) on ``fisher_batches`` forget and retain batches; the ``fisher_budget`` share
of coordinates with the largest F_f / (F_r + eps) may change, every other stays exactly as in
the target.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import Field

from medlethe import (
    Batch,
    LossMethod,
    MethodParams,
    UnlearnContext,
    collate,
    encode,
    nll,
    optional_import,
)
from medlethe.metrics import icd10cm
from medlethe.unlearn import knobs, token_logprobs


class DuoLearnParams(MethodParams):
    alpha: float = Field(1.0, ge=0, description="weight of the retain term")
    learning_rate: float = Field(
        2e-2, gt=0, description="AdamW peak learning rate (large: few coordinates move)"
    )
    project: bool = Field(True, description="project forget gradients off retain ones")
    projection_rank: int = Field(4, ge=1, description="retain directions kept (last k grads)")
    fisher_mask: bool = Field(True, description="let only Fisher-selected coordinates change")
    fisher_budget: float = Field(1e-3, gt=0, le=1, description="share of coordinates changed")
    fisher_batches: int = Field(4, ge=1, description="batches per Fisher estimate")
    token_weights: bool = Field(True, description="weight forget tokens by concept")
    forget_concept_weight: float = Field(2.0, ge=0, description="w on forget-only concepts")
    shared_concept_weight: float = Field(0.5, ge=0, description="w on concepts shared with retain")
    dp: bool = Field(False, description="differentially private LoRA update (needs lora_rank)")
    target_epsilon: float = Field(4.0, gt=0, description="DP: epsilon to spend in all")
    target_delta: float = Field(1e-5, gt=0, lt=1, description="DP: delta")
    dp_clip: float = Field(1.0, gt=0, description="DP: per-sample gradient norm bound C")


class RetainSubspace:
    """The span of the last ``rank`` retain gradients (one block: every trained coordinate),
    orthonormalised by QR; :meth:`project` removes a vector's component in it."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.recent: list[Any] = []
        self.basis: Any = None

    def add(self, g: Any) -> None:
        import torch

        if float(g.norm()) == 0.0:
            return
        self.recent = [*self.recent, g.detach().clone()][-self.rank:]
        q, r = torch.linalg.qr(torch.stack(self.recent, dim=1))
        keep = r.diagonal().abs() > 1e-10 * float(r.diagonal().abs().max())
        self.basis = q[:, keep]

    def project(self, v: Any) -> Any:
        if self.basis is None:
            return v
        return v - self.basis @ (self.basis.T @ v)


def concept_phrases(ctx: UnlearnContext) -> tuple[set[str], set[str]]:
    """(forget-only, shared) concept phrases, lower-cased.

    Patient packs (instances labelled with an ICD-10-CM ``code``): each forgotten and retained
    code contributes its 4-level hierarchy (chapter > block > category > code) from
    ``simple-icd-10-cm``; a concept's phrases are its code and its description, plus the
    pack's declared terms (drugs, procedures, labs) of its disease category. Multiple-choice
    packs (a ``group``: subject or topic): the forgotten group's name is the one concept.
    Concepts of forgotten items absent from every retained item are forget-only; the others
    are shared."""
    forget = [i.meta for i in ctx.task.instances("forget")]
    retain = [i.meta for i in ctx.task.instances("retain")] if "retain" in (
        ctx.task.split_names()) else []
    if any("code" in m for m in forget):
        spec = ctx.task.lexicon_spec()
        terms = dict(spec.terms) if spec is not None else {}

        def concepts(metas: Sequence[Any]) -> set[str]:
            out: set[str] = set()
            for m in metas:
                out |= set(icd_levels(str(m.get("code", ""))))
                out |= {f"term:{t}" for t in terms.get(str(m.get("category")), ())}
            return out

        f, r = concepts(forget), concepts(retain)
        return _phrases(f - r), _phrases(f & r)
    groups_f = {str(m.get("group", "")) for m in forget} - {""}
    groups_r = {str(m.get("group", "")) for m in retain} - {""}
    return {g.lower() for g in groups_f - groups_r}, {g.lower() for g in groups_f & groups_r}


def icd_levels(code: str) -> list[str]:
    """``code`` and its ancestors (category, block, chapter), when it is a valid code."""
    icd = icd10cm()
    if not code or not icd.is_valid_item(code):
        return []
    return [code, *icd.get_ancestors(code)]


def _phrases(concepts: set[str]) -> set[str]:
    icd = icd10cm()
    out: set[str] = set()
    for c in concepts:
        if c.startswith("term:"):
            out.add(c[5:].lower())
            continue
        out.add(icd.get_description(c).lower())
        if not c.isdigit():  # a chapter is a bare number: matched by its description only
            out.add(c.lower())
    return {p for p in out if len(p) >= 3}


def token_weights(
    tok: Any, text: str, forget_only: set[str], shared: set[str], w_forget: float,
    w_shared: float,
) -> list[float]:
    """One weight per token of ``text`` (tokenized as ``encode`` tokenizes an answer): the
    forget weight where a token overlaps a forget-only phrase, else the shared weight where
    it overlaps a shared phrase, else 1."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    lower = text.lower()

    def spans(phrases: set[str]) -> list[tuple[int, int]]:
        found = []
        for p in phrases:
            for m in re.finditer(re.escape(p), lower):
                found.append((m.start(), m.end()))
        return found

    fs, ss = spans(forget_only), spans(shared)
    out = []
    for a, b in enc["offset_mapping"]:
        if any(a < e and s < b for s, e in fs):
            out.append(w_forget)
        elif any(a < e and s < b for s, e in ss):
            out.append(w_shared)
        else:
            out.append(1.0)
    return out


class DuoLearn(LossMethod):
    """DuoLearn: Fisher-masked, retain-orthogonal forgetting with concept-weighted tokens.

    Formulas: ``methods/duolearn.py`` and docs/methods.md (medlethe's formulation; the
    paper publishes none). Components switch off with ``project``, ``fisher_mask``,
    ``token_weights`` and ``dp``."""

    front_space = knobs(fisher_budget=(1e-3, 1e-2, 0.1, 1.0),
                        learning_rate=(6.7e-3, 2e-2, 6e-2))

    Params = DuoLearnParams
    version = "2"  # 2: the DP path divides the retain term by the retain batch size
    params: DuoLearnParams

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        import torch

        p = self.params
        if p.dp and not p.lora_rank:
            raise ValueError("DuoLearn: dp=True trains a LoRA update; set lora_rank")
        self.pad = tokenizer.pad_token_id
        self.forget_enc = [encode(tokenizer, ex, p.max_length) for ex in ctx.forget]
        self.retain_enc = [encode(tokenizer, ex, p.max_length) for ex in ctx.retain]
        forget_only, shared = concept_phrases(ctx) if p.token_weights else (set(), set())
        self.weights = []
        for ex, (_ids, labels) in zip(ctx.forget, self.forget_enc, strict=True):
            w = token_weights(tokenizer, ex.delimiter + ex.answer, forget_only, shared,
                              p.forget_concept_weight, p.shared_concept_weight)
            n_ctx = sum(1 for x in labels if x == -100)
            row = [0.0] * n_ctx + w + [1.0]
            self.weights.append(row[: len(labels)])
        answer = [w for row in self.weights for w in row if w > 0]
        self.info: dict[str, Any] = {
            "concepts_forget_only": len(forget_only),
            "concepts_shared": len(shared),
            "tokens_weighted_up": sum(1 for w in answer if w == p.forget_concept_weight != 1),
            "tokens_weighted_down": sum(1 for w in answer if w == p.shared_concept_weight != 1),
            "answer_tokens": len(answer),
        }
        self.subspace = RetainSubspace(p.projection_rank)
        named = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
        self.masks: dict[str, Any] = {}
        if p.fisher_mask and not p.lora_rank:
            self.masks = self._fisher_masks(model, named)
            self.info["fisher_selected"] = int(sum(int(m.sum()) for m in self.masks.values()))
            self.info["fisher_total"] = int(sum(q.numel() for _, q in named))
        self.names = [n for n, _ in named if not self.masks or bool(self.masks[n].any())]
        self.accountant = None
        if p.dp:
            accountants = optional_import("opacus.accountants", component="DuoLearn dp=True",
                                          install="pip install 'medlethe[dp]'")
            RDPAccountant = accountants.RDPAccountant
            get_noise_multiplier = accountants.utils.get_noise_multiplier

            n = max(1, len(ctx.forget))
            self.sample_rate = min(1.0, p.batch_size / n)
            self.steps = max(1, math.ceil(p.epochs * n / p.batch_size))
            self.noise = get_noise_multiplier(
                target_epsilon=p.target_epsilon, target_delta=p.target_delta,
                sample_rate=self.sample_rate, steps=self.steps, accountant="rdp",
            )
            # the whole run's privacy, every step included: a run resumed from a checkpoint
            # spends and records the same epsilon as an uninterrupted one
            self.accountant = RDPAccountant()
            self.accountant.history = [(self.noise, self.sample_rate, self.steps)]
        torch.manual_seed(p.seed)

    def _fisher_masks(self, model: Any, named: list[tuple[str, Any]]) -> dict[str, Any]:
        import torch

        p = self.params

        def fisher(data: list[Any]) -> dict[str, Any]:
            acc = {n: torch.zeros_like(q) for n, q in named}
            size = p.batch_size
            batches = [data[i:i + size] for i in range(0, len(data), size)][: p.fisher_batches]
            for items in batches:
                model.zero_grad(set_to_none=True)
                dev = next(model.parameters()).device
                ids, mask, labels = (t.to(dev) for t in collate(items, self.pad))
                model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
                for n, q in named:
                    if q.grad is not None:
                        acc[n] += q.grad.detach() ** 2 / len(batches)
            model.zero_grad(set_to_none=True)
            return acc

        f = fisher(self.forget_enc)
        r = fisher(self.retain_enc) if self.retain_enc else {n: torch.zeros_like(q)
                                                             for n, q in named}
        scores = {n: f[n] / (r[n] + 1e-12) for n, _ in named}
        flat = torch.cat([s.flatten() for s in scores.values()])
        k = max(1, int(p.fisher_budget * flat.numel()))
        chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        chosen[torch.topk(flat, k).indices] = True
        out, at = {}, 0
        for n, q in named:
            out[n] = chosen[at:at + q.numel()].view_as(q)
            at += q.numel()
        return out

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        keep = set(self.names)
        return ((n, q) for n, q in model.named_parameters() if n in keep)

    # -- losses ------------------------------------------------------------------------------
    def forget_loss(self, model: Any, forget: Batch) -> Any:
        """Weighted mean log-likelihood of the forget answers (minimised: ascent on NLL)."""
        import torch

        logits = model(input_ids=forget.input_ids, attention_mask=forget.attention_mask).logits
        picked, mask = token_logprobs(logits, forget)
        width = forget.labels.shape[1]
        w = torch.tensor([(self.weights[i] + [0.0] * width)[:width] for i in forget.index],
                         device=logits.device)
        w = w[:, 1:] * mask
        return (picked * w).sum() / w.sum().clamp_min(1e-8)

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        retain_term = self.params.alpha * nll(model, retain) if retain.index else 0.0
        return self.forget_loss(model, forget) + retain_term

    # -- gradients ---------------------------------------------------------------------------
    def _params(self, model: Any) -> list[tuple[str, Any]]:
        keep = set(self.names)
        return [(n, q) for n, q in model.named_parameters() if n in keep]

    def _flat(self, params: list[tuple[str, Any]]) -> Any:
        import torch

        parts = []
        for n, q in params:
            g = q.grad if q.grad is not None else torch.zeros_like(q)
            parts.append(g[self.masks[n]] if self.masks else g.flatten())
        return torch.cat(parts)

    def _write(self, params: list[tuple[str, Any]], vector: Any) -> None:
        import torch

        at = 0
        for n, q in params:
            if self.masks:
                m = self.masks[n]
                grad = torch.zeros_like(q)
                k = int(m.sum())
                grad[m] = vector[at:at + k]
            else:
                k = q.numel()
                grad = vector[at:at + k].view_as(q).clone()
            q.grad = grad
            at += k

    def _grad(self, model: Any, params: list[tuple[str, Any]], loss: Any) -> tuple[Any, float]:
        model.zero_grad(set_to_none=True)
        loss.backward()
        return self._flat(params), float(loss.detach())

    def _private_grad(self, model: Any, params: list[tuple[str, Any]], batch: Batch,
                      forget: bool) -> Any:
        """Sum over the batch of per-sample gradients, each clipped to norm ``dp_clip``, and
        the mean per-sample loss."""
        total, losses = None, []
        for row in range(len(batch.index)):
            one = Batch(batch.input_ids[row:row + 1], batch.attention_mask[row:row + 1],
                        batch.labels[row:row + 1], batch.index[row:row + 1])
            loss = self.forget_loss(model, one) if forget else self.params.alpha * nll(model, one)
            g, value = self._grad(model, params, loss)
            g = g * min(1.0, self.params.dp_clip / (float(g.norm()) + 1e-12))
            total = g if total is None else total + g
            losses.append(value)
        return total, sum(losses) / max(1, len(losses))

    def backward(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch

        p = self.params
        params = self._params(model)
        size = max(1, len(forget.index))
        r_loss = 0.0
        if p.dp:
            g_f, f_loss = self._private_grad(model, params, forget, True)
            g_f = g_f / size
            g_r = torch.zeros_like(g_f)
            if retain.index:  # each term the mean over its own batch
                g_r, r_loss = self._private_grad(model, params, retain, False)
                g_r = g_r / len(retain.index)
        else:
            g_f, f_loss = self._grad(model, params, self.forget_loss(model, forget))
            g_r = torch.zeros_like(g_f)
            if retain.index:
                g_r, r_loss = self._grad(model, params, p.alpha * nll(model, retain))
        if p.project:
            self.subspace.add(g_r)
            g_f = self.subspace.project(g_f)
        total = g_f + g_r
        if p.dp:
            sigma = self.noise * p.dp_clip / max(1, len(forget.index))
            total = total + torch.randn_like(total) * sigma
        self._write(params, total)
        return torch.tensor(f_loss + r_loss)

    def describe(self) -> dict[str, Any]:
        out = dict(self.info)
        if self.accountant is not None:
            p = self.params
            out.update({
                "dp_epsilon": round(float(self.accountant.get_epsilon(p.target_delta)), 4),
                "dp_delta": p.target_delta,
                "dp_noise_multiplier": round(float(self.noise), 4),
                "dp_clip": p.dp_clip,
                "dp_sample_rate": round(self.sample_rate, 6),
                "dp_steps": self.steps,
                "dp_accountant": "opacus RDP",
            })
        return out


def variant(**overrides: Any) -> Any:
    """A DuoLearn factory with some hyperparameters fixed (the registered ablations)."""

    def build(**params: Any) -> DuoLearn:
        return DuoLearn(**{**overrides, **params})

    build.__doc__ = DuoLearn.__doc__
    return build


NO_PROJECTION = variant(project=False)
NO_FISHER = variant(fisher_mask=False)
NO_TOKEN_WEIGHTS = variant(token_weights=False)
DP_LORA = variant(dp=True, lora_rank=8, fisher_mask=False)
