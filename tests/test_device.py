"""Training through accelerate on the CPU: precision, micro-batches (gradient accumulation),
gradient checkpointing, resume under bf16, the LoRA reference without a second copy, and
fingerprints that did not move for the default settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from medlethe.errors import MedletheError
from medlethe.training.classifier import ClassifierTrainConfig
from medlethe.training.device import (
    AdapterOff,
    DeviceSettings,
    Runtime,
    backward,
    micro_batches,
)
from medlethe.training.finetune import TrainConfig
from medlethe.training.loop import LoopConfig, train_steps
from medlethe.training.pipeline import finetune, finetune_fingerprint, load_scenario

NOTES = ("synthclinic-notes/forget-class-renal", {"n_patients": 22, "n_holdout": 11})
QA = ("synthclinic/patient-10", {"n_patients": 11, "n_holdout": 11})


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_micro_batches_split_near_evenly() -> None:
    assert micro_batches([1, 2, 3, 4, 5], 2) == [[1, 2, 3], [4, 5]]
    assert micro_batches([1, 2], 4) == [[1], [2]]
    assert micro_batches([7], 1) == [[7]]


def test_bad_device_settings_name_the_argument() -> None:
    with pytest.raises(MedletheError, match="precision must be one of fp32, bf16, fp16"):
        TrainConfig(precision="fp8")
    with pytest.raises(MedletheError, match="gradient_accumulation_steps"):
        ClassifierTrainConfig(gradient_accumulation_steps=0)


def test_default_settings_keep_the_fingerprints_of_earlier_models() -> None:
    """A target fine-tuned before the device settings existed keeps its cache key: the key
    is the old formula (the configuration without them) at their defaults."""
    from medlethe.base_models import resolve_base_model
    from medlethe.fingerprint import model_fingerprint
    from medlethe.task.base import fingerprint
    from medlethe.training.pipeline import _data_key

    task = load_scenario(*QA)
    config = TrainConfig(qa_epochs=1)
    old = {k: v for k, v in dataclasses.asdict(config).items()
           if k not in ("precision", "gradient_accumulation_steps", "gradient_checkpointing",
                        "chat_template", "system_instruction")}
    base = resolve_base_model("tiny", task)
    expected = "sha256:" + fingerprint(
        [model_fingerprint(base), _data_key(task.training_data("train")), old])
    assert finetune_fingerprint("tiny", task, "train", config) == expected
    assert finetune_fingerprint("tiny", task, "train",
                                dataclasses.replace(config, precision="bf16")) != expected


def test_micro_batches_give_the_weights_of_whole_batches(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A classifier's step taken as 2 micro-batches (each loss weighted by its share of the
    rows) has the gradient of the whole batch: trained with plain SGD (AdamW turns the
    float-rounding noise of near-zero gradients into whole steps) and dropout off (its masks
    are drawn per forward pass), both end at the same weights."""
    monkeypatch.setattr(torch.nn.Dropout, "forward", lambda self, x: x)
    monkeypatch.setattr(torch.optim, "AdamW",
                        lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr))
    task = load_scenario(*NOTES)
    one = finetune("tiny-bert", task, "retain", progress=False,
                   config=ClassifierTrainConfig(epochs=2, batch_size=8, learning_rate=0.5))
    two = finetune("tiny-bert", task, "retain", progress=False,
                   config=ClassifierTrainConfig(epochs=2, batch_size=8, learning_rate=0.5,
                                                gradient_accumulation_steps=2))
    assert one.fingerprint != two.fingerprint
    a, b = _weights(one.path), _weights(two.path)
    base = _weights(Path(one.base))
    moved = max(float((a[k] - base[k]).abs().max()) for k in base)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 0.05 and apart < 0.002 * moved, (moved, apart)  # float rounding only


def test_bf16_and_gradient_checkpointing_on_the_cpu() -> None:
    import json

    task = load_scenario(*QA)
    plain = finetune("tiny", task, "retain", progress=False, config=TrainConfig(qa_epochs=1))
    ckpt = finetune("tiny", task, "retain", progress=False,
                    config=TrainConfig(qa_epochs=1, gradient_checkpointing=True))
    half = finetune("tiny", task, "retain", progress=False,
                    config=TrainConfig(qa_epochs=1, precision="bf16"))
    a, b, c = _weights(plain.path), _weights(ckpt.path), _weights(half.path)
    for key in a:  # recomputing activations changes nothing
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in c.values())
    assert any(not torch.equal(a[k], c[k]) for k in a)  # bf16 compute moved them otherwise
    meta = json.loads((half.path / "medlethe_finetune.json").read_text())
    assert meta["runtime"] == {"device": "cpu", "processes": 1, "precision": "bf16",
                               "gradient_accumulation_steps": 1,
                               "gradient_checkpointing": False}


class _Stop(Exception):
    pass


def _run(work: Path, stop_at: int | None) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    runtime = Runtime(DeviceSettings(precision="bf16"))
    model = runtime.place(model)
    data = torch.randn(40, 8, generator=torch.Generator().manual_seed(1))

    def grads_at(step: int) -> tuple[Any, dict[str, str]]:
        if step == stop_at:
            raise _Stop
        x = data[(step * 4) % 40:(step * 4) % 40 + 4].to(runtime.device)
        loss = (model(x) ** 2).mean()
        backward(loss)
        return loss.detach(), {}

    loop = LoopConfig(1e-2, 0.0, 0.1, 1.0, checkpoint_every=3)
    train_steps(model, list(model.parameters()), 12, grads_at, loop, work, desc="t",
                progress=False, runtime=runtime)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_killed_bf16_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    with pytest.raises(_Stop):
        _run(tmp_path / "killed", stop_at=8)
    assert (tmp_path / "killed" / "checkpoint" / "state.pt").exists()
    resumed = _run(tmp_path / "killed", stop_at=None)
    straight = _run(tmp_path / "straight", stop_at=None)
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0)


def test_lora_reference_is_the_model_with_its_adapter_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under LoRA a method's frozen reference is the trained model with the adapter off:
    equal to the target before and after training, and the target is loaded once."""
    import medlethe.unlearn.trainer as trainer
    from medlethe.registry import get_registry
    from medlethe.training.loop import add_lora, load_causal_lm
    from medlethe.unlearn.pipeline import build_method
    from tests.conftest import scenario_context

    task = load_scenario(*QA)
    target = finetune("tiny", task, "train", progress=False, config=TrainConfig(qa_epochs=1))
    tok, model = load_causal_lm(target.path)
    ids = tok(["Which drug was a patient given?"], return_tensors="pt").input_ids
    with torch.no_grad():
        before = model(input_ids=ids).logits
    lora = add_lora(model, 4, 16)
    for n, q in lora.named_parameters():
        if "lora_B" in n:
            q.data.fill_(0.05)  # as if trained
    with torch.no_grad():
        torch.testing.assert_close(AdapterOff(lora)(input_ids=ids).logits, before)
        assert not torch.allclose(lora(input_ids=ids).logits, before)

    loads: list[Path] = []
    family = trainer.family_of("tiny", task)
    real = family.load

    def counted(path: Any, **kw: Any) -> Any:
        loads.append(Path(path))
        return real(path, **kw)

    monkeypatch.setattr(family, "load", counted)
    _, npo = build_method("NPO", {"lora_rank": 4, "epochs": 1.0}, registry=get_registry())
    out = npo.unlearn(scenario_context(task, target, "tiny", tmp_path / "npo"))
    assert loads == [target.path] and out.adapter is not None
    assert out.meta["runtime"]["precision"] == "fp32"


def test_a_method_with_its_own_gradients_refuses_micro_batches(tmp_path: Path) -> None:
    from medlethe.registry import get_registry
    from medlethe.unlearn.pipeline import build_method
    from tests.conftest import scenario_context

    task = load_scenario(*QA)
    target = finetune("tiny", task, "train", progress=False, config=TrainConfig(qa_epochs=1))
    target = dataclasses.replace(
        target, config=dataclasses.replace(target.config, gradient_accumulation_steps=2))
    _, duo = build_method("DuoLearn", registry=get_registry())
    ctx = dataclasses.replace(scenario_context(task, target, "tiny", tmp_path / "d"),
                              train_config=target.config)
    with pytest.raises(MedletheError, match="DuoLearn computes each step's gradient itself"):
        duo.unlearn(ctx)


def test_auto_micro_batches_double_after_out_of_memory(tmp_path: Path) -> None:
    """gradient_accumulation_steps=auto takes a step whole, and after an out-of-memory
    error (raised here for micro-batches over 2 rows, as a GPU would) redoes it in twice as
    many micro-batches; the run ends where a fixed 4 micro-batches ends."""

    def run(k: int | str, work: Path) -> tuple[dict[str, torch.Tensor], Runtime]:
        torch.manual_seed(0)
        model = torch.nn.Linear(6, 1)
        runtime = Runtime(DeviceSettings(gradient_accumulation_steps=k))
        data = torch.randn(8, 6, generator=torch.Generator().manual_seed(2))

        def grads_at(step: int) -> tuple[Any, dict[str, str]]:
            total = torch.zeros(())
            for part in runtime.split(list(range(8))):
                if len(part) > 2:
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 1 GiB")
                loss = (model(data[part]) ** 2).mean() * (len(part) / 8)
                backward(loss)
                total = total + loss.detach()
            return total, {}

        train_steps(model, list(model.parameters()), 3, grads_at,
                    LoopConfig(1e-2, 0.0, 0.0, 1.0, 10), work, desc="t", progress=False,
                    runtime=runtime)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, runtime

    auto, runtime = run("auto", tmp_path / "auto")
    fixed, _ = run(4, tmp_path / "fixed")
    assert runtime.parts == 4 and runtime.describe()["micro_batches"] == 4
    for key in fixed:
        torch.testing.assert_close(auto[key], fixed[key], rtol=0, atol=0)
    with pytest.raises(torch.cuda.OutOfMemoryError):  # a fixed count does not retry
        run(1, tmp_path / "one")


def _launch(script: Path, cache: Path, parts: int, processes: int) -> dict[str, Path]:
    """``script`` run in ``processes`` processes (``accelerate launch``, gloo on the CPU),
    with ``parts`` micro-batches a step, on its own model cache: the folders it made."""
    import json
    import os
    import subprocess
    import sys

    launch = ([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no"]
              if processes > 1 else [sys.executable])
    env = {**os.environ, "MEDLETHE_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run([*launch, str(script), str(parts)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {k: Path(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.slow
def test_two_processes_train_as_one_process_in_two_micro_batches(tmp_path: Path) -> None:
    """A fine-tune and a GradDiff run launched in two processes (each taking its half of
    every step's rows, the gradients summed across them) end at the weights of one process
    taking each step in two micro-batches, bit for bit; and two micro-batches of a language
    model (each weighted by its share of the step's answer tokens) end at the weights of
    whole batches, up to float rounding."""
    import json

    script = Path(__file__).parent / "fixtures" / "launch" / "train_both.py"
    two = _launch(script, tmp_path / "two", parts=1, processes=2)
    split = _launch(script, tmp_path / "split", parts=2, processes=1)
    whole = _launch(script, tmp_path / "whole", parts=1, processes=1)
    for key in ("target", "unlearned"):
        a, b = _weights(two[key]), _weights(split[key])
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    meta = json.loads((two["target"] / "medlethe_finetune.json").read_text())
    assert meta["runtime"]["processes"] == 2
    a, b = _weights(whole["target"]), _weights(split["target"])
    base = _weights(next((tmp_path / "whole" / "models").glob("tiny-*")))
    moved = max(float((a[k] - base[k]).abs().max()) for k in base)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 0.05 and apart < 1e-4 * moved, (moved, apart)


def test_a_command_that_does_not_train_refuses_a_launch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medlethe.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["methods"]) == 2
    assert "only run, finetune, unlearn train across processes" in capsys.readouterr().err
