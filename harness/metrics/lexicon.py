"""Medical-term lexicons for the leakage metrics.

A lexicon maps *surface terms* (normalised phrases) to *concepts* and concepts to *groups*
(disease categories). It is built from ICD-10-CM (each code's description, the description
without its parenthesised words, and its inclusion terms, all one concept: the code) plus
the drug, procedure and lab names a task pack declares (each its own concept). Matching is
normalised (case, punctuation, whitespace; a leading article dropped from declared terms)
and longest-match-first over word sequences: "acute myocardial infarction" is one term, not
"myocardial infarction" plus noise.

A task pack supplies its lexicon by overriding :meth:`medlethe.task.Task.lexicon_spec`.
"""

from __future__ import annotations

import functools
import importlib
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

_NON_WORD = re.compile(r"[^0-9a-z]+")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ARTICLES = ("a", "an", "the")
#: surface forms too generic to count as a leaked medical term (harness choice)
_GENERIC = frozenset(
    {"other", "unspecified", "other specified", "other and unspecified", "not elsewhere classified"}
)
MIN_TERM_CHARS = 4


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def _declared(term: str) -> str:
    words = normalise(term).split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class LexiconSpec:
    """What a task pack declares: ICD-10-CM roots (chapters like ``"9"``, blocks like
    ``"I20-I25"`` or codes) and extra terms (drugs, procedures, labs), both per group."""

    icd_roots: Mapping[str, Sequence[str]] = field(default_factory=dict)
    terms: Mapping[str, Sequence[str]] = field(default_factory=dict)


def icd10cm() -> ModuleType:
    """``simple_icd_10_cm``, imported without the warnings it raises on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module("simple_icd_10_cm")
    return module


@functools.lru_cache(maxsize=64)
def _icd_surfaces(root: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(code, surface forms) for ``root`` and every code below it."""
    icd = icd10cm()

    if not icd.is_valid_item(root):
        from medlethe.errors import TaskConfigError

        raise TaskConfigError(
            f"Lexicon root {root!r} is not an ICD-10-CM chapter, block or code known to "
            "simple-icd-10-cm; use e.g. '9' (a chapter), 'I20-I25' (a block) or 'I21'."
        )
    out = []
    for code in [root, *icd.get_descendants(root)]:
        desc = icd.get_description(code)
        forms = {desc, _PARENS.sub(" ", desc), *icd.get_inclusion_term(code)}
        out.append((code, tuple(sorted(forms))))
    return tuple(out)


#: words that carry no medical content when deciding whether a prompt gave a term away
_STOP = frozenset({
    "a", "an", "the", "of", "and", "or", "with", "without", "in", "on", "to", "for", "by",
    "due", "as", "at", "from", "not", "other", "unspecified", "specified", "elsewhere",
    "classified", "nos", "type", "site",
})


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer  # a dependency of rouge-score

    return PorterStemmer()


@functools.lru_cache(maxsize=65536)
def content_tokens(text: str) -> frozenset[str]:
    """The stemmed content words of a text (Porter stemmer, stop words out): what decides
    whether a prompt already gave a term away."""
    stem = _stemmer().stem
    return frozenset(stem(w) for w in normalise(text).split() if w not in _STOP)


@functools.lru_cache(maxsize=65536)
def _icd_ancestors(code: str) -> frozenset[str]:
    icd = icd10cm()
    return frozenset(icd.get_ancestors(code)) if icd.is_valid_item(code) else frozenset()


@dataclass(frozen=True)
class Echo:
    """What a prompt gives away: its content tokens, its concepts and every ICD-10-CM
    ancestor of a diagnosis it names."""

    tokens: frozenset[str]
    concepts: frozenset[str]


class Lexicon:
    """Longest-match-first term finder over a fixed lexicon."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """``entries``: (surface form, concept id, group)."""
        self.concept_of: dict[tuple[str, ...], str] = {}
        self.group_of: dict[str, str] = {}
        for surface, concept, group in entries:
            norm = normalise(surface)
            if len(norm) < MIN_TERM_CHARS or norm in _GENERIC:
                continue
            self.concept_of.setdefault(tuple(norm.split()), concept)
            self.group_of.setdefault(concept, group)
        self.max_words = max((len(k) for k in self.concept_of), default=0)

    @classmethod
    def from_spec(cls, spec: LexiconSpec) -> Lexicon:
        entries: list[tuple[str, str, str]] = []
        for group, terms in spec.terms.items():  # declared terms first: they win ties
            entries.extend((_declared(t), f"term:{_declared(t)}", group) for t in terms)
        for group, roots in spec.icd_roots.items():
            for root in roots:
                for code, forms in _icd_surfaces(root):
                    entries.extend((f, f"icd:{code}", group) for f in forms)
        return cls(entries)

    def __len__(self) -> int:
        return len(self.concept_of)

    def find(self, text: str) -> list[tuple[str, str]]:
        """(surface term, concept) for each match, scanning left to right and taking the
        longest term that starts at each position."""
        words = normalise(text).split()
        out, i = [], 0
        while i < len(words):
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                key = tuple(words[i : i + n])
                if key in self.concept_of:
                    out.append((" ".join(key), self.concept_of[key]))
                    i += n
                    break
            else:
                i += 1
        return out

    def terms(self, text: str) -> set[str]:
        return {t for t, _ in self.find(text)}

    def concepts(self, text: str) -> set[str]:
        return {c for _, c in self.find(text)}

    def groups(self, text: str) -> set[str]:
        return {self.group_of[c] for _, c in self.find(text)}

    def echo(self, prompt: str) -> Echo:
        """What ``prompt`` gives away (for :meth:`echoed`)."""
        named = self.concepts(prompt)
        above = {f"icd:{a}" for c in named if c.startswith("icd:")
                 for a in _icd_ancestors(c[4:])}
        return Echo(content_tokens(prompt), frozenset(named | above))

    def echoed(self, term: str, concept: str, echo: Echo) -> bool:
        """Whether a model could have read ``term`` in the prompt: the prompt names its
        concept or a descendant of it (an ICD ancestor title of a prompt diagnosis), or
        every content token of the term occurs in the prompt (stemmed, stop words out:
        "myocardial infarction" restated from "acute myocardial infarction,
        unspecified")."""
        return concept in echo.concepts or content_tokens(term) <= echo.tokens

    def added(self, text: str, echo: Echo) -> list[tuple[str, str]]:
        """(term, concept) of ``text`` that the prompt behind ``echo`` did not give away."""
        return [(t, c) for t, c in self.find(text) if not self.echoed(t, c, echo)]


@functools.lru_cache(maxsize=16)
def _cached(
    spec_key: tuple[tuple[str, tuple[str, ...]], ...],
    terms_key: tuple[tuple[str, tuple[str, ...]], ...],
) -> Lexicon:
    return Lexicon.from_spec(LexiconSpec(dict(spec_key), dict(terms_key)))


def build_lexicon(spec: LexiconSpec) -> Lexicon:
    """A lexicon for ``spec``, built once per process."""
    return _cached(
        tuple(sorted((g, tuple(r)) for g, r in spec.icd_roots.items())),
        tuple(sorted((g, tuple(t)) for g, t in spec.terms.items())),
    )
