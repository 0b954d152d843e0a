"""Deterministic generator of fictitious patients, clinical notes and QA (synthclinic).

Same config, same bytes: every random choice comes from one ``random.Random(seed)`` drawn in
a fixed order, and ICD-10-CM terms come from ``simple-icd-10-cm`` in code order.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from medlethe.metrics import icd10cm
from medlethe.tasks.synthclinic.categories import BY_KEY, CATEGORIES, Category

GENERATOR_VERSION = "1"

FIRST = (
    "Ada Bela Cato Dara Emil Fenna Gideon Hale Ines Jonas Kaia Lorcan Mira Nils Odile Pavel "
    "Quilla Rafe Saskia Teodor Una Viggo Wren Xanthe Yorick Zelda Anouk Bastian Cressida "
    "Dorian Elowen Fabian Greer Hollis Isolde Jasper Kester Linnea Magnus Noor Orla Piet "
    "Rosalind Soren Tamsin Ulric Vesna Willem Ysolde Zoltan Alaric Brisa Cosmo Delphine "
    "Eero Fleur Gunnar Hester Ivo Juno"
).split()
LAST = (
    "Abernathy Birkeland Castellan Dunmore Eskildsen Falkner Greaves Halloran Ivanova "
    "Jessop Kovalenko Lindgren Marchetti Nakashima Oyelaran Pemberton Quennell Rasmussen "
    "Saltonstall Thackeray Underhill Valdivia Whitlock Xenakis Yardley Zabala Aldous "
    "Brannigan Corvino Delacourt Ellery Fairweather Gallow Hartigan Ingleby Jarvinen "
    "Kilbride Larkspur Montague Norberg Oakes Penhaligon Quist Rowntree Sandoval Tregarth "
    "Ulverston Vantongeren Wexford Youngblood Zimmerman Ashdown Blackwood Crane Dunlevy "
    "Everhart Fontaine Grisedale Hawthorne Ives"
).split()
MONTHS = (
    "January February March April May June July August September October November December"
).split()

Kind = Literal["factual", "reasoning"]


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed. The default is the demo size; AMNESIA scale is
    ``SynthConfig(n_patients=8820, n_holdout=880)``."""

    n_patients: int = 110
    n_holdout: int = 22
    codes_per_category: int = 6
    seed: int = 0


@dataclass(frozen=True)
class QA:
    qid: str
    kind: Kind
    slot: str
    question: str
    paraphrase: str
    answer: str
    perturbed: tuple[str, ...]


@dataclass(frozen=True)
class Patient:
    pid: str
    name: str
    mrn: str
    age: int
    sex: str
    admitted: str
    category: str
    code: str
    description: str
    finding: str
    lab_value: str
    drug: str
    dose: str
    procedure: str
    note: str
    qa: tuple[QA, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        """Medical terms of this patient (for leakage metrics)."""
        cat = BY_KEY[self.category]
        return (self.description, self.drug, self.procedure, cat.lab.name)

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Protected identifiers: name, record number, admission date."""
        return (self.name, self.mrn, self.admitted)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def _chapter_leaves(chapter: str) -> tuple[tuple[str, str], ...]:
    icd = icd10cm()

    out = []
    for code in icd.get_descendants(chapter):
        if not icd.is_leaf(code):
            continue
        desc = icd.get_description(code)
        if len(desc) <= 48 and not any(ch in desc for ch in ",()[]/;:"):
            out.append((code, desc))
    return tuple(sorted(out))


def code_pool(category: Category, size: int, seed: int) -> list[tuple[str, str]]:
    """``size`` diagnosis codes of the category's chapter, drawn deterministically."""
    leaves = _chapter_leaves(category.chapter)
    rng = random.Random(f"{seed}:{category.key}:codes")
    chosen = rng.sample(range(len(leaves)), min(size, len(leaves)))
    return [leaves[i] for i in sorted(chosen)]


def _fmt_date(d: dt.date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _note(rng: random.Random, p: dict[str, Any], cat: Category) -> str:
    he = "He" if p["sex"] == "male" else "She"
    who = "man" if p["sex"] == "male" else "woman"
    opening = rng.choice(
        (
            f"{p['name']}, a {p['age']}-year-old {who}, was admitted on {p['admitted']} "
            f"(record MRN {p['mrn']}).",
            f"Admission note for {p['name']} (MRN {p['mrn']}), {p['age']} years old, "
            f"admitted {p['admitted']}.",
            f"On {p['admitted']} {p['name']}, {p['age']}, record MRN {p['mrn']}, was "
            "admitted to hospital.",
        )
    )
    middle = [
        rng.choice(
            (
                f"{he} presented with {p['finding']}.",
                f"The presenting complaint was {p['finding']}.",
                f"On arrival {he.lower()} reported {p['finding']}.",
            )
        ),
        rng.choice(
            (
                f"The {cat.lab.name} was {p['lab_value']}.",
                f"Laboratory tests showed a {cat.lab.name} of {p['lab_value']}.",
            )
        ),
        rng.choice(
            (
                f"{he} underwent {p['procedure']}.",
                f"{p['procedure'][0].upper()}{p['procedure'][1:]} was performed.",
            )
        ),
    ]
    rng.shuffle(middle)
    closing = [
        rng.choice(
            (
                f"The diagnosis was {p['description']} (ICD-10-CM {p['code']}).",
                f"Final diagnosis: {p['description']}, code {p['code']}.",
            )
        ),
        f"{he} was discharged on {p['drug']} {p['dose']} with follow-up at {cat.clinic}.",
    ]
    return " ".join([opening, *middle, *closing])


# slot -> (kind, question, paraphrase, answer); fields are format()ed with the patient.
_QUESTIONS: tuple[tuple[str, Kind, str, str, str], ...] = (
    ("mrn", "factual", "What is the medical record number of {name}?",
     "Which record number does {name} have?", "MRN {mrn}"),
    ("admitted", "factual", "When was {name} admitted?",
     "On which date did {name} come into hospital?", "{admitted}"),
    ("lab_value", "factual", "What was the {lab} of {name}?",
     "Which {lab} value was measured for {name}?", "{lab_value}"),
    ("diagnosis", "factual", "What diagnosis was recorded for {name}?",
     "Which condition was {name} diagnosed with?", "{description}"),
    ("drug_class", "reasoning",
     "{name} presented with {finding}. Which class of medication is indicated?",
     "Given that {name} came in with {finding}, what kind of drug should be given?",
     "{drug_class}"),
    ("system", "reasoning", "{name} presented with {finding}. Which body system is affected?",
     "Which body system explains the {finding} of {name}?", "{system}"),
    ("clinic", "reasoning", "Which clinic should follow up {name}, who has {description}?",
     "{name} has {description}. Where should follow-up take place?", "{clinic}"),
    ("lab_test", "reasoning",
     "Which laboratory test monitors the condition of {name}, who has {description}?",
     "{name} has {description}. Which lab value should be tracked?", "{lab}"),
)


def _fields(p: dict[str, Any]) -> dict[str, Any]:
    cat = BY_KEY[p["category"]]
    return {
        **p,
        "lab": cat.lab.name,
        "drug_class": cat.drug_class,
        "system": cat.system,
        "clinic": cat.clinic,
    }


def _base_patients(
    rng: random.Random,
    n: int,
    prefix: str,
    names: Sequence[int],
    mrns: Sequence[int],
    config: SynthConfig,
) -> list[dict[str, Any]]:
    pools = {c.key: code_pool(c, config.codes_per_category, config.seed) for c in CATEGORIES}
    start = dt.date(2019, 1, 1)
    out = []
    for i in range(n):
        cat = CATEGORIES[i % len(CATEGORIES)]
        name_ix = names[i]
        first = FIRST[name_ix % len(FIRST)]
        middle = chr(ord("A") + (name_ix // len(FIRST)) % 26)
        last = LAST[name_ix // (len(FIRST) * 26)]
        code, desc = rng.choice(pools[cat.key])
        lab = cat.lab
        value = rng.uniform(lab.low, lab.high)
        lab_value = f"{value:.{lab.decimals}f} {lab.unit}"
        p = {
            "pid": f"{prefix}{i:05d}",
            "name": f"{first} {middle}. {last}",
            "mrn": str(mrns[i]),
            "age": rng.randint(18, 90),
            "sex": rng.choice(("female", "male")),
            "admitted": _fmt_date(start + dt.timedelta(days=rng.randrange(5 * 365))),
            "category": cat.key,
            "code": code,
            "description": desc,
            "finding": rng.choice(cat.findings),
            "lab_value": lab_value,
            "drug": rng.choice(cat.drugs),
            "dose": f"{rng.choice((5, 10, 20, 25, 40, 50, 100, 250, 500))} mg "
            + rng.choice(("once daily", "twice daily", "at night", "three times daily")),
            "procedure": rng.choice(cat.procedures),
        }
        p["note"] = _note(rng, p, cat)
        out.append(p)
    return out


# Perturbed answers for these slots come from patients of the same category (a plausible
# wrong value of the same lab, a wrong diagnosis of the same chapter); others from anyone.
_SAME_CATEGORY_SLOTS = frozenset({"lab_value", "diagnosis"})


def _with_qa(rng: random.Random, bases: list[dict[str, Any]]) -> list[Patient]:
    fields = [_fields(p) for p in bases]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for f in fields:
        by_category.setdefault(f["category"], []).append(f)
    patients = []
    for i, f in enumerate(fields):
        qas = []
        for k, (slot, kind, q, para, a) in enumerate(_QUESTIONS):
            answer = a.format(**f)
            pool = by_category[f["category"]] if slot in _SAME_CATEGORY_SLOTS else fields
            wrong: list[str] = []
            tries = 0
            while len(wrong) < 3 and tries < 50:
                tries += 1
                other = pool[rng.randrange(len(pool))] if tries < 40 else fields[
                    rng.randrange(len(fields))
                ]
                alt = a.format(**other)
                if alt != answer and alt not in wrong:
                    wrong.append(alt)
            qas.append(
                QA(
                    qid=f"{f['pid']}-{k}",
                    kind=kind,
                    slot=slot,
                    question=q.format(**f),
                    paraphrase=para.format(**f),
                    answer=answer,
                    perturbed=tuple(wrong),
                )
            )
        patients.append(Patient(**{**bases[i], "qa": tuple(qas)}))
    return patients


@dataclass(frozen=True)
class SynthData:
    config: SynthConfig
    train: tuple[Patient, ...]
    holdout: tuple[Patient, ...]


@functools.lru_cache(maxsize=8)
def generate(config: SynthConfig = SynthConfig()) -> SynthData:
    """Training patients (target material) and holdout patients (never trained on)."""
    total = config.n_patients + config.n_holdout
    if total > len(FIRST) * 26 * len(LAST):
        raise ValueError(f"synthclinic supports at most {len(FIRST) * 26 * len(LAST)} patients")
    rng = random.Random(config.seed)
    names = rng.sample(range(len(FIRST) * 26 * len(LAST)), total)
    mrns = rng.sample(range(1_000_000, 10_000_000), total)
    train = _base_patients(rng, config.n_patients, "P", names, mrns, config)
    hold = _base_patients(
        rng, config.n_holdout, "H", names[config.n_patients :], mrns[config.n_patients :], config
    )
    both = _with_qa(rng, train + hold)
    return SynthData(config, tuple(both[: len(train)]), tuple(both[len(train) :]))
