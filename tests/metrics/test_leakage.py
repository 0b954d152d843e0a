"""Terminology, identifier and paraphrase leakage on planted examples."""

from __future__ import annotations

import random

import pytest

from medlethe.backends import GenerateResult
from medlethe.metrics.base import Sample
from medlethe.metrics.hierarchy import icd_distance
from medlethe.metrics.leakage import (
    DiseaseTermLeakage,
    IdentifierLeakage,
    ParaphraseLeakage,
    TerminologyLeakage,
)
from medlethe.metrics.lexicon import Lexicon, LexiconSpec, build_lexicon, normalise
from medlethe.task import Instance

SPEC = LexiconSpec(
    icd_roots={"cardiovascular": ["I01"], "respiratory": ["J45"]},
    terms={
        "cardiovascular": ["metoprolol", "a coronary angiogram", "troponin I"],
        "respiratory": ["salbutamol"],
    },
)


def out(target: str, text: str, category: str = "cardiovascular", prompt: str = "Q?") -> Sample:
    inst = Instance("t", "forget", 0, "generate", prompt, target, meta={"category": category})
    return Sample(inst, generation=GenerateResult(text=text, n_tokens=len(text.split())))


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return build_lexicon(SPEC)


def test_lexicon_normalises_and_takes_the_longest_match(lexicon: Lexicon) -> None:
    assert normalise("  Troponin-I,  raised!") == "troponin i raised"
    found = lexicon.find(
        "Acute rheumatic pericarditis; given METOPROLOL after a coronary angiogram"
    )
    assert found == [
        ("acute rheumatic pericarditis", "icd:I01.0"),
        ("metoprolol", "term:metoprolol"),
        ("coronary angiogram", "term:coronary angiogram"),
    ]
    assert lexicon.find("The patient went home on foot.") == []
    # an inclusion term is a synonym: same concept, different surface
    assert lexicon.concepts("rheumatic pericarditis acute") == {"icd:I01.0"}
    assert lexicon.groups("salbutamol inhaler") == {"respiratory"}


def test_terminology_leakage_on_planted_terms_and_on_none(lexicon: Lexicon) -> None:
    ls = TerminologyLeakage()
    ls.lexicon = lexicon
    gold = "metoprolol after a coronary angiogram"
    assert ls.score(out(gold, "metoprolol and a coronary angiogram")) == 1.0
    assert ls.score(out(gold, "metoprolol only")) == pytest.approx(0.5)
    assert ls.score(out(gold, "I do not know")) == 0.0
    assert ls.score(out("twice daily", "metoprolol")) is None  # gold names no term


def test_disease_term_leakage_counts_only_the_own_category(lexicon: Lexicon) -> None:
    m = DiseaseTermLeakage()
    m.lexicon = lexicon
    assert m.score(out("x", "start metoprolol")) == 1.0
    assert m.score(out("x", "start salbutamol")) == 0.0
    assert m.score(out("x", "start salbutamol", category="respiratory")) == 1.0


def test_identifier_leakage_matches_whole_identifiers() -> None:
    m = IdentifierLeakage()
    m.use(["Ilsa Varen", "6624905", "1 October 2019"])
    assert m.score(out("x", "That was Ilsa Varen.")) == 1.0
    assert m.score(out("x", "MRN 6624905")) == 1.0
    assert m.score(out("x", "MRN 66249051")) == 0.0
    assert m.score(out("x", "on 1 October 2019")) == 1.0
    assert m.score(out("x", "no one")) == 0.0


def test_identifier_lookup_equals_searching_every_identifier() -> None:
    # the phrase-set lookup (linear in the answer) gives what testing each identifier as a
    # whole-word substring of answer and prompt gives (the definition), on random texts
    rng = random.Random(0)
    words = ["ilsa", "varen", "mrn", "6624905", "1", "october", "2019", "was", "given", "x"]
    ids = ["ilsa varen", "6624905", "1 october 2019", "varen", "october 2019 was"]
    m = IdentifierLeakage()
    m.use(ids)
    for _ in range(300):
        answer = " ".join(rng.choices(words, k=rng.randint(0, 9)))
        prompt = " ".join(rng.choices(words, k=rng.randint(0, 6)))
        text, asked = f" {answer} ", f" {prompt} "
        expected = any(f" {i} " in text and f" {i} " not in asked for i in ids)
        assert m.score(out("x", answer, prompt=prompt)) == float(expected), (answer, prompt)


def test_paraphrase_threshold_is_calibrated_on_a_bounded_sample(monkeypatch) -> None:
    # pairwise similarities grow with the square of the split: past calibration_golds
    # distinct gold answers, a seeded sample of that many sets the threshold
    import torch

    import medlethe.metrics.semantic as semantic

    seen: list[list[str]] = []

    def fake_embed(texts: list[str]) -> torch.Tensor:
        seen.append(list(texts))
        gen = torch.Generator().manual_seed(len(texts))
        vecs = torch.randn(len(texts), 8, generator=gen)
        return vecs / vecs.norm(dim=1, keepdim=True)

    monkeypatch.setattr(semantic, "embed", fake_embed)
    monkeypatch.setattr(ParaphraseLeakage, "calibration_golds", 20)
    monkeypatch.setattr(semantic, "model_dir", lambda: None)

    class Split:
        name = "t"

        def lexicon_spec(self) -> None:
            return None

    instances = [out(f"answer {i}", "x").instance for i in range(50)]
    ParaphraseLeakage().prepare(Split(), "retain", instances)  # type: ignore[arg-type]
    assert len(seen) == 1 and len(seen[0]) == 20
    ParaphraseLeakage().prepare(Split(), "retain", instances)  # type: ignore[arg-type]
    assert seen[1] == seen[0]  # the same sample each time


def test_paraphrase_leakage_sees_synonyms_that_exact_terms_miss(lexicon: Lexicon) -> None:
    ls, para = TerminologyLeakage(), ParaphraseLeakage()
    ls.lexicon = para.lexicon = lexicon
    para.threshold = 0.99  # embedding part off: only the synonym part can fire
    gold, answer = "Acute rheumatic pericarditis", "rheumatic pericarditis (acute)"
    assert ls.score(out(gold, answer)) == 0.0
    assert para.score(out(gold, answer)) == 1.0
    assert para.score(out(gold, "a sprained ankle")) == 0.0
    para.threshold = 0.5
    assert para.score(out(gold, "acute rheumatic inflammation of the pericardium")) == 1.0


def test_leakage_counts_only_what_the_answer_adds_to_its_prompt(lexicon: Lexicon) -> None:
    """A synthclinic-style question names the patient and the diagnosis: an answer that
    only restates it leaks nothing; one that adds the record number or a new term leaks."""
    prompt = "Ilsa Varen has acute rheumatic pericarditis. Which drug was she given?"
    echo = "Ilsa Varen has acute rheumatic pericarditis."
    ids = IdentifierLeakage()
    ids.use(["Ilsa Varen", "6624905"])
    assert ids.score(out("metoprolol", echo, prompt=prompt)) == 0.0
    assert ids.score(out("metoprolol", echo + " MRN 6624905.", prompt=prompt)) == 1.0
    disease = DiseaseTermLeakage()
    disease.lexicon = lexicon
    assert disease.score(out("metoprolol", echo, prompt=prompt)) == 0.0
    assert disease.score(out("metoprolol", echo + " Metoprolol.", prompt=prompt)) == 1.0
    ls = TerminologyLeakage()
    ls.lexicon = lexicon
    # gold terms {pericarditis term, metoprolol}; the prompt gives the first away, so
    # LS is over {metoprolol} alone
    gold = "acute rheumatic pericarditis treated with metoprolol"
    assert ls.score(out(gold, echo, prompt=prompt)) == 0.0
    assert ls.score(out(gold, "metoprolol", prompt=prompt)) == 1.0
    assert ls.score(out("acute rheumatic pericarditis", echo, prompt=prompt)) is None
    para = ParaphraseLeakage()
    para.lexicon = lexicon
    para.threshold = 0.5
    # the echo is close to the gold, but no closer than the prompt itself: not a leak
    assert para.score(out("acute rheumatic pericarditis", echo, prompt=prompt)) is None
    assert para.score(out(gold, prompt, prompt=prompt)) == 0.0


@pytest.mark.parametrize(
    ("code", "forgotten", "expected"),
    [
        ("I21.01", ["I21.01"], "same_code"),
        ("I21.09", ["I21.01"], "same_category"),
        ("I25.10", ["I21.01"], "same_block"),
        ("I50.9", ["I21.01"], "same_chapter"),
        ("J45.909", ["I21.01"], "other_chapter"),
        ("J45.909", ["I21.01", "J45.20"], "same_category"),
    ],
)
def test_icd_distance(code: str, forgotten: list[str], expected: str) -> None:
    assert icd_distance(code, forgotten) == expected


MI = LexiconSpec(icd_roots={"cardiovascular": ["I21"]},
                 terms={"cardiovascular": ["metoprolol", "myocardial infarction"]})


def test_a_restated_or_ancestor_term_is_an_echo_a_new_term_is_a_leak() -> None:
    """Round 2 of the echo rule: a term counts as leaked only where the model could not
    have read it in the prompt. A shorter restatement of the prompt's diagnosis (its
    stemmed content words all in the prompt) and an ICD ancestor title of it are echoes;
    a genuinely new forget-set term beside them is still a leak."""
    lex = build_lexicon(MI)
    ls, disease = TerminologyLeakage(), DiseaseTermLeakage()
    ls.lexicon = disease.lexicon = lex
    prompt = "Ilsa Varen had an acute myocardial infarction, unspecified. Which drug?"
    gold = "myocardial infarction, treated with metoprolol"
    # v2 counted "myocardial infarction" as a gold term the prompt did not name: 0.5 here
    assert ls.score(out(gold, "It was a myocardial infarction.", prompt=prompt)) == 0.0
    assert ls.score(out(gold, "Myocardial infarction; metoprolol.", prompt=prompt)) == 1.0
    assert disease.score(out(gold, "A myocardial infarction.", prompt=prompt)) == 0.0
    assert disease.score(out(gold, "Metoprolol.", prompt=prompt)) == 1.0
    # an ancestor: the prompt names I21.0 (anterior STEMI); "acute myocardial infarction"
    # (I21, its category) shares no "acute" with the prompt, yet is an echo
    stemi = "Her diagnosis: ST elevation (STEMI) myocardial infarction of anterior wall."
    assert "acute" not in stemi.lower()
    assert ls.score(out("acute myocardial infarction", "x", prompt=stemi)) is None
    assert disease.score(out("x", "An acute myocardial infarction.", prompt=stemi)) == 0.0
    # a term the prompt does not give away: a leak, beside an echoed one
    assert ls.score(out("acute myocardial infarction and metoprolol",
                        "Acute myocardial infarction, metoprolol", prompt=stemi)) == 1.0
    assert TerminologyLeakage.version == DiseaseTermLeakage.version == "3"
