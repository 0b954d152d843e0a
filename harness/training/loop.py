"""The one training loop of medlethe: fine-tuning targets and oracles, and every loss-based
unlearning method, run through :func:`train_steps`.

A run writes into ``OUT.partial``; a checkpoint (model, optimizer, scheduler, step) is saved
every few steps under ``OUT.partial/checkpoint``; the finished folder is renamed to ``OUT``
so that a folder without ``.partial`` is always complete. The caller fixes the data of every
step in advance (a plan that depends only on the seed), so a resumed run takes exactly the
steps an uninterrupted one would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from medlethe.integrity import seal

if TYPE_CHECKING:
    from medlethe.training.device import Runtime

#: the projection layers a LoRA adapter wraps (those the model has)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoopConfig:
    """Optimiser, schedule and checkpoint settings of one training run."""

    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    #: clip the gradients' total norm to this (``None``: no clipping)
    max_grad_norm: float | None
    checkpoint_every: int
    #: "linear" (warm-up, then decay to zero) or "constant"
    schedule: str = "linear"
    #: parameter names containing any of these take no weight decay (needs named params)
    no_decay: tuple[str, ...] = ()


def load_causal_lm(
    path: str | Path, *, trainable: bool = True, dtype: Any = None
) -> tuple[Any, Any]:
    """Tokenizer (padding with EOS where it has no pad token) and model, float32 unless
    ``dtype`` says otherwise (a LoRA run in bf16 keeps its frozen base in bf16)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    if not trainable:
        model.eval().requires_grad_(False)
    return tok, model


def add_lora(model: Any, rank: int, alpha: int) -> Any:
    """Wrap ``model`` in a PEFT LoRA adapter on the projection layers it has."""
    from peft import LoraConfig, get_peft_model

    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present]
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets))


def linear_schedule(opt: Any, total: int, warmup_ratio: float, kind: str = "linear") -> Any:
    """Linear warm-up, then linear decay to zero at ``total`` steps (``kind="constant"``:
    the learning rate never changes)."""
    import torch

    if kind not in ("linear", "constant"):
        raise ValueError(f"schedule must be linear or constant, got {kind!r}")
    warmup = max(1, int(total * warmup_ratio))

    def factor(s: int) -> float:
        if kind == "constant":
            return 1.0
        return (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def param_groups(named: Sequence[tuple[str, Any]], config: LoopConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on every parameter except those whose name
    contains one of ``config.no_decay``."""
    plain = [p for n, p in named if not any(k in n for k in config.no_decay)]
    bare = [p for n, p in named if any(k in n for k in config.no_decay)]
    return [g for g in ({"params": plain, "weight_decay": config.weight_decay},
                        {"params": bare, "weight_decay": 0.0}) if g["params"]]


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def save_checkpoint(work: Path, model: Any, opt: Any, sched: Any, step: int) -> None:
    import torch

    path = work / "checkpoint"
    path.mkdir(parents=True, exist_ok=True)
    state = {
        "model": dict(model.state_dict().items()),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "step": step,
    }
    torch.save(state, path / "state.pt.tmp")
    (path / "state.pt.tmp").replace(path / "state.pt")


def load_checkpoint(work: Path, model: Any, opt: Any, sched: Any) -> int:
    """Restore the last checkpoint into model, optimizer and scheduler; the step, or 0."""
    import torch

    path = work / "checkpoint" / "state.pt"
    if not path.exists():
        return 0
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return int(state["step"])


#: computes optimizer step ``i``'s gradients (calling ``backward``) and returns its loss and
#: what the progress bar shows beside it
StepGrads = Callable[[int], tuple[Any, dict[str, str]]]


def train_steps(
    model: Any,
    params: Sequence[Any],
    steps: int,
    grads_at: StepGrads,
    config: LoopConfig,
    work: Path,
    *,
    desc: str,
    progress: bool = True,
    runtime: Runtime | None = None,
) -> None:
    """Train ``params`` of ``model`` (tensors, or AdamW parameter groups such as
    :func:`param_groups` makes) for ``steps`` optimizer steps with AdamW, the schedule of
    ``config`` and gradient clipping, resuming from the checkpoint in ``work``
    and saving one every ``config.checkpoint_every`` steps. ``grads_at(i)`` computes step
    ``i``'s gradients (through :func:`medlethe.training.device.backward`) and returns its
    loss; a loss that is not finite stops the run with the step that produced it. The
    ``runtime`` (device, precision) is the one the model was placed with; by default the CPU
    or the GPU accelerate finds, in float32. Under a launch of several processes each step's
    gradients are summed across them before the clipping (:meth:`Runtime.sync`) and only
    the main process saves checkpoints."""
    import torch

    from medlethe.training.device import DeviceSettings, Runtime

    runtime = runtime or Runtime(DeviceSettings())
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = linear_schedule(opt, steps, config.warmup_ratio, config.schedule)
    tensors = [p for g in opt.param_groups for p in g["params"]]
    step = load_checkpoint(work, model, opt, sched)
    model, opt = runtime.prepare(model, opt)
    model.train()
    with (runtime.active(),
          tqdm(total=steps, initial=step, desc=desc, unit="step",
               disable=not (progress and runtime.is_main)) as bar):
        while step < steps:
            try:
                loss, shown = grads_at(step)
            except Exception as exc:  # out of memory under auto: the step again, split finer
                if not runtime.fits(exc):
                    raise
                opt.zero_grad()
                continue
            loss = runtime.sync(tensors, loss, f"{desc} {work.name}", step)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}")
            if config.max_grad_norm is not None:
                runtime.accelerator.clip_grad_norm_(tensors, config.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            bar.set_postfix(**shown, loss=f"{loss.item():.3f}")
            bar.update()
            if step % config.checkpoint_every == 0 and step < steps and runtime.is_main:
                save_checkpoint(work, model, opt, sched, step)
    model.eval()


def finish(work: Path, out: Path, meta_name: str, meta: dict[str, Any],
           save: Callable[[Path], None] | None = None, runtime: Runtime | None = None) -> Path:
    """Save the model into ``work`` (``save(work)``), write the run's metadata, drop the
    checkpoint, seal the files (medlethe.integrity) and move ``work`` to ``out``: in the
    main process, the others of a launch waiting until it is done."""
    if runtime is not None and not runtime.is_main:
        runtime.wait()
        return out
    if save is not None:
        save(work)
    (work / meta_name).write_text(json.dumps(meta, indent=2, default=str))
    shutil.rmtree(work / "checkpoint", ignore_errors=True)
    seal(work)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    if runtime is not None:
        runtime.wait()
    return out


def fit(
    model: Any,
    plan: Sequence[Sequence[int]],
    loss_of: Callable[[list[int], Runtime], Any],
    config: Any,
    out: str | Path,
    save: Callable[[Path], None],
    *,
    desc: str = "fine-tune",
    progress: bool = True,
    meta: dict[str, Any] | None = None,
    size: Callable[[int], int] | None = None,
    phase: Callable[[int], str] | None = None,
) -> Path:
    """Fine-tune ``model`` on medlethe's loop into the model folder ``out``: for a family's
    :meth:`~medlethe.training.Family.train`. ``plan[i]`` is optimizer step ``i``'s rows (fix
    it from the seed, so a resumed run takes the same steps); ``loss_of(rows, runtime)`` is
    the mean loss of some of them, its tensors on ``runtime.device`` (``runtime.batch``
    moves them; micro-batches and processes take parts of a step); ``config`` carries
    ``learning_rate``, ``weight_decay``, ``warmup_ratio``, ``max_grad_norm`` and
    ``checkpoint_every`` (and the device settings, where it has them); ``save(folder)``
    writes the trained model. Checkpoints, resume, devices, progress and the metadata the
    cache reads (``medlethe_finetune.json``: ``meta``, then the step count and where it
    ran) come with it. ``size(row)``: the units ``loss_of`` averages over in a row (a
    language model's answer tokens), which weight the micro-batches; ``phase(step)``: a
    name for what step ``step`` trains, shown by the progress bar."""
    from medlethe.training.device import DeviceSettings, Runtime, accumulate

    runtime = Runtime(DeviceSettings.of(config), data_parallel=True)
    model = runtime.place(model)
    rows = [list(step) for step in plan]

    def grads_at(step: int) -> tuple[Any, dict[str, str]]:
        grads = accumulate(runtime, rows[step], lambda part: loss_of(part, runtime), size)
        return grads, ({"phase": phase(step)} if phase is not None else {})

    loop = LoopConfig(config.learning_rate, config.weight_decay, config.warmup_ratio,
                      config.max_grad_norm, config.checkpoint_every)
    target = Path(out)
    work = work_dir(target)
    params = [p for p in model.parameters() if p.requires_grad]
    train_steps(model, params, len(rows), grads_at, loop, work, desc=desc, progress=progress,
                runtime=runtime)
    info = {**(meta or {}), "steps": len(rows), "runtime": runtime.describe()}
    return finish(work, target, "medlethe_finetune.json", info, save, runtime)
