"""The transformers backend against direct forward passes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medlethe.backends import GenerateRequest, LoglikelihoodRequest, truncate_at_stop
from medlethe.backends.hf import HFBackend
from medlethe.errors import BackendError


def test_loglikelihood_matches_a_manual_forward_pass(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend = HFBackend(str(tiny_model), batch_size=3)
    reqs = [
        LoglikelihoodRequest("Which drug was Ilsa Varen given?", " zentorin"),
        LoglikelihoodRequest("Which drug was Odile Wexley given?", " quarodol"),
        LoglikelihoodRequest("Which", " drug was Maren Quist given? plexavir"),
        LoglikelihoodRequest("Q: What is the usual dose of zentorin?\nA:", " 40 mg twice daily"),
    ]
    results = backend.loglikelihood(reqs)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    for req, res in zip(reqs, results, strict=True):
        ctx = tok(req.context).input_ids
        cont = tok(req.continuation, add_special_tokens=False).input_ids
        with torch.no_grad():
            logits = model(torch.tensor([ctx + cont])).logits[0]
        lp = torch.log_softmax(logits, -1)
        expected = [lp[len(ctx) - 1 + i, t].item() for i, t in enumerate(cont)]
        assert res.logprobs == pytest.approx(expected, abs=1e-4)
        greedy = [lp[len(ctx) - 1 + i].argmax().item() == t for i, t in enumerate(cont)]
        assert list(res.is_greedy) == greedy
        assert res.dist_mean is not None and res.dist_std is not None
        assert all(m <= 0 for m in res.dist_mean) and all(s >= 0 for s in res.dist_std)
    assert backend.model_calls == 4
    assert results[0].probability > 0.9 > results[1].probability


def test_shared_context_path_matches_one_pass_per_option(tiny_model: Path) -> None:
    # multiple-choice requests: four options per question, contexts of different lengths,
    # options of one and of several tokens, batches that split the contexts; the shared
    # path (each context run once, options over its cached state) agrees with the plain
    # one (every request run whole) within 1e-4 on every number it returns
    questions = {
        "Which drug was Ilsa Varen given?": ["zentorin", "mivastat", "caltroxin", "a"],
        "Q: What is the usual dose of zentorin?\nA:": ["40 mg twice daily", "5 mg", "1 g",
                                                        "10 mg at night"],
        "Which": ["drug was Maren Quist given? plexavir", "x", "drug", "was"],
    }
    reqs = [LoglikelihoodRequest(q, " " + o) for q, opts in questions.items() for o in opts]
    reqs.append(LoglikelihoodRequest("", " zentorin"))  # empty context: the BOS token
    shared = HFBackend(str(tiny_model), batch_size=2).loglikelihood(reqs)
    plain = HFBackend(str(tiny_model), batch_size=2, share_prefix=False).loglikelihood(reqs)
    assert any(len(r.logprobs) == 1 for r in plain) and any(len(r.logprobs) > 3 for r in plain)
    for a, b in zip(shared, plain, strict=True):
        assert len(a.logprobs) == len(b.logprobs)
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        assert a.dist_mean == pytest.approx(b.dist_mean, abs=1e-4)
        assert a.dist_std == pytest.approx(b.dist_std, abs=1e-4)
        assert a.is_greedy == b.is_greedy
    assert (HFBackend(str(tiny_model)).fingerprint()
            != HFBackend(str(tiny_model), share_prefix=False).fingerprint())


def test_generation_does_not_depend_on_batching(tiny_model: Path) -> None:
    prompts = [
        "Which drug was Ilsa Varen given?",
        "Which drug was Tobin Holloway given? Then",
        "Q: What is the usual dose of plexavir?\nA:",
        "Which drug was Bram Ulrich given?",
        "Which",
    ]
    reqs = [GenerateRequest(p, 16, ("\n",)) for p in prompts]
    one = HFBackend(str(tiny_model), batch_size=1).generate(reqs)
    many = HFBackend(str(tiny_model), batch_size=5).generate(reqs)
    assert [r.text for r in one] == [r.text for r in many]
    assert one[0].text.strip() == "zentorin"
    assert one[2].text.strip() == "10 mg at night"
    assert all("\n" not in r.text for r in one)


def test_truncate_at_stop() -> None:
    assert truncate_at_stop("abc\ndef", ["\n"]) == "abc"
    assert truncate_at_stop("a. b\nc", ["\n", "."]) == "a"
    assert truncate_at_stop("abc", []) == "abc"


def test_bad_arguments() -> None:
    with pytest.raises(BackendError, match="dtype"):
        HFBackend("x", dtype="float8")
    with pytest.raises(BackendError, match="batch_size"):
        HFBackend("x", batch_size=0)
    with pytest.raises(BackendError, match=r"batch_size.*auto"):
        HFBackend("x", batch_size="big")
    with pytest.raises(BackendError, match="device must be"):
        HFBackend("x", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match=r"'cuda' is not here.*device=cpu"):
            HFBackend("x", device="cuda")


def test_a_mistyped_backend_argument_names_the_right_one(tiny_model: Path) -> None:
    from medlethe.errors import MedletheError
    from medlethe.evaluator import _backend
    from medlethe.registry import get_registry

    with pytest.raises(MedletheError, match=r"no argument 'batch_sz'.*'batch_size'.*dtype"):
        _backend(get_registry(), "hf", str(tiny_model), None, 0, {"batch_sz": 4})


def test_auto_batch_size_halves_on_out_of_memory(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """batch_size=auto starts at max_batch_size and halves after an out-of-memory error
    (here raised for batches above 8, as a GPU would), keeping the size that ran; the
    numbers equal a fixed batch size's."""
    reqs = [LoglikelihoodRequest(f"Which drug was patient {i} given?", " zentorin")
            for i in range(20)]
    auto = HFBackend(str(tiny_model), batch_size="auto", max_batch_size=32)
    plain = HFBackend(str(tiny_model), batch_size=8)
    run = auto._shared_loglikelihood
    tried: list[int] = []

    def small_only(*args: object) -> object:
        tried.append(auto._bs)
        if auto._bs > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return run(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(auto, "_shared_loglikelihood", small_only)
    got = auto.loglikelihood(reqs)
    assert tried == [32, 16, 8] and auto.describe()["found_batch_size"] == 8
    for a, b in zip(got, plain.loglikelihood(reqs), strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    auto.loglikelihood(reqs[:3])
    assert tried[-1] == 8  # the found size is kept for later calls
