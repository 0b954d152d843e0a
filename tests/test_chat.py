"""Chat templates: rendering with the tokenizer's own template, the same prompts for
fine-tuning, unlearning and evaluation, and the template recorded by hash."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from medlethe.chat import ChatFormat
from medlethe.errors import MedletheError
from medlethe.task import TrainingExample

#: ChatML as SmolLM2-Instruct writes it, with the tokenizer's BOS first (as Llama-3's does)
CHATML = ("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
          "{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
NO_SYSTEM = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}"
             "{% endif %}" + CHATML)


def _chat_model(tmp_path: Path, template: str = CHATML) -> Path:
    """The embedded tiny base model with a chat template on its tokenizer."""
    from transformers import AutoTokenizer

    from medlethe.base_models import resolve_base_model
    from medlethe.training.pipeline import load_scenario

    base = Path(resolve_base_model("tiny", load_scenario("synthclinic/patient-10")))
    out = tmp_path / "tiny-chat"
    shutil.copytree(base, out)
    tok = AutoTokenizer.from_pretrained(out)
    tok.chat_template = template
    tok.save_pretrained(out)
    return out


def test_render_uses_the_template_and_drops_a_second_bos(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(_chat_model(tmp_path))
    chat = ChatFormat(True, "Answer briefly.")
    text = chat.render(tok, "Which drug?")
    assert text == ("<|im_start|>system\nAnswer briefly.<|im_end|>\n"
                    "<|im_start|>user\nWhich drug?<|im_end|>\n<|im_start|>assistant\n")
    assert tok(text).input_ids.count(tok.bos_token_id) == 1  # the tokenizer's own BOS only
    assert chat.digest(tok) != ChatFormat(True).digest(tok)
    assert ChatFormat().render(tok, "Which drug?") == "Which drug?"
    assert ChatFormat().digest(tok) is None
    ex = chat.examples(tok, [TrainingExample("Which drug?", "zentorin"),
                             TrainingExample("", "a plain note")])
    assert ex[0].prompt == text and ex[0].delimiter == "" and ex[1].prompt == ""


def test_a_template_without_a_system_role_gets_the_instruction_in_the_user_turn(
    tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(_chat_model(tmp_path, NO_SYSTEM))
    text = ChatFormat(True, "Answer briefly.").render(tok, "Which drug?")
    assert text.startswith("<|im_start|>user\nAnswer briefly.\n\nWhich drug?<|im_end|>")


def test_a_base_model_without_a_template_is_refused() -> None:
    from transformers import AutoTokenizer

    from medlethe.base_models import resolve_base_model
    from medlethe.training.pipeline import load_scenario

    tok = AutoTokenizer.from_pretrained(
        resolve_base_model("tiny", load_scenario("synthclinic/patient-10")))
    with pytest.raises(MedletheError, match=r"no chat template.*instruct"):
        ChatFormat(True).render(tok, "Which drug?")


def test_finetune_unlearn_and_evaluate_read_the_same_templated_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medlethe.evaluator import evaluate
    from medlethe.methods.builtin import GradAscent
    from medlethe.training.finetune import TrainConfig
    from medlethe.training.pipeline import finetune, finetune_fingerprint, load_scenario
    from medlethe.unlearn.pipeline import unlearn

    args = {"n_patients": 11, "n_holdout": 11}
    task = load_scenario("synthclinic/patient-10", args)
    model = str(_chat_model(tmp_path))
    config = TrainConfig(qa_epochs=1, text_epochs=0, chat_template=True,
                         system_instruction="Answer briefly.")
    assert finetune_fingerprint(model, task, "train", config) != finetune_fingerprint(
        model, task, "train", TrainConfig(qa_epochs=1, text_epochs=0))
    target = finetune(model, task, "train", config=config, progress=False)

    seen: list[Any] = []
    real = GradAscent.setup

    def spy(self: Any, model: Any, ref: Any, tok: Any, ctx: Any) -> None:
        seen.append(ctx.forget[0])
        real(self, model, ref, tok, ctx)

    monkeypatch.setattr(GradAscent, "setup", spy)
    unlearn("GradAscent", task, target, model, params={"epochs": 0.1}, progress=False)
    assert seen[0].prompt.startswith("<|im_start|>system\nAnswer briefly.")
    assert seen[0].prompt.endswith("<|im_start|>assistant\n") and seen[0].delimiter == ""

    run = evaluate(str(target.path), ["synthclinic/patient-10"], task_args=args, limit=2,
                   splits=["forget"], log_samples=True, cache=False, progress=False,
                   chat=ChatFormat.of(config))
    record = run.results.tasks["synthclinic/patient-10"]
    assert record.chat_template is not None and record.chat_template.startswith("sha256:")
    prompts = [row["prompt"] for row in run.samples or []]
    assert prompts and all(p.startswith("<|im_start|>system") for p in prompts)
    plain = evaluate(str(target.path), ["synthclinic/patient-10"], task_args=args, limit=2,
                     splits=["forget"], cache=False, progress=False)
    assert plain.results.tasks["synthclinic/patient-10"].chat_template is None
