"""Chat templates: prompts of the language-model kinds wrapped in the model's own template.

With ``chat_template=true`` (a training argument, so that a target, its oracle and every
unlearning of them read prompts the same way, and evaluation follows the model it scores)
each prompt becomes a user turn (after a system turn carrying ``system_instruction``, if
any) rendered by the tokenizer's ``apply_chat_template`` with the generation prompt; the
answer follows with no delimiter, as lm-eval does under ``--apply_chat_template``. A
template that refuses a system turn gets the instruction at the head of the user turn.
Where the tokenizer adds a BOS token itself, the template's leading BOS is dropped from the
text so that tokenizing it gives the template's tokens once. Results record the template by
hash (``tasks.*.chat_template``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from medlethe.errors import MedletheError

T = TypeVar("T")


@dataclass(frozen=True)
class ChatFormat:
    """Whether and how prompts are wrapped in the model's chat template."""

    apply: bool = False
    system_instruction: str | None = None

    @classmethod
    def of(cls, config: Any) -> ChatFormat:
        """The format a training configuration asks for (none where it has no such field)."""
        return cls(bool(getattr(config, "chat_template", False)),
                   getattr(config, "system_instruction", None))

    def digest(self, tok: Any) -> str | None:
        """What results record: a hash of the template and the system instruction."""
        if not self.apply:
            return None
        text = f"{tok.chat_template}\0{self.system_instruction or ''}"
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def render(self, tok: Any, prompt: str, adds_bos: bool | None = None) -> str:
        """``prompt`` as the model's template writes a user turn awaiting the answer
        (``adds_bos``: whether the tokenizer adds BOS itself, when the caller knows)."""
        if not self.apply:
            return prompt
        if not getattr(tok, "chat_template", None):
            raise MedletheError(
                f"chat_template=true, but the tokenizer of {tok.name_or_path} has no chat "
                "template (a base model, not an instruct one); drop chat_template from "
                "--train-args or use an instruct model."
            )
        turns = [{"role": "user", "content": prompt}]
        if self.system_instruction:
            turns.insert(0, {"role": "system", "content": self.system_instruction})
        try:
            text = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        except Exception:
            if not self.system_instruction:
                raise
            merged = [{"role": "user", "content": f"{self.system_instruction}\n\n{prompt}"}]
            text = tok.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
        bos = tok.bos_token
        if bos and text.startswith(bos) and (_adds_bos(tok) if adds_bos is None else adds_bos):
            text = text[len(bos):]
        return str(text)

    def examples(self, tok: Any, items: Sequence[T]) -> list[T]:
        """Training examples or evaluation instances with their prompts rendered and no
        delimiter before the answer; plain texts (an empty prompt) stay as they are."""
        if not self.apply:
            return list(items)
        adds_bos = _adds_bos(tok)  # once, not once per prompt
        out = []
        for item in items:
            prompt = getattr(item, "prompt", "")
            if not prompt:
                out.append(item)
                continue
            field = "delimiter" if hasattr(item, "delimiter") else "target_delimiter"
            out.append(replace(item, prompt=self.render(tok, prompt, adds_bos),  # type: ignore[type-var]
                               **{field: ""}))
        return out


def _adds_bos(tok: Any) -> bool:
    ids = tok("x").input_ids
    return bool(ids) and tok.bos_token_id is not None and ids[0] == tok.bos_token_id
