"""The report noise of the Forget-MI release (its ``data_preprocessing/text_noise.py``, read
from a public copy, nhnhu146/Forget-MI-LoKU, because the authors' stored release lacks the
file): facts, not code.

1. Up to two of ten keywords present in the report are replaced, every occurrence, by
   ``[NOISE]`` (the release's ten: the most frequent nouns of its MIMIC-CXR reports).
2. Then, with even odds, word noise or character noise at ``level`` (0.5 as released):

   * word noise: one word of the report found in the synonym table's ``second_word``
     column becomes the ``first_word`` of its most similar row (every occurrence); then
     each word, with chance ``level``, is dropped, written twice, or swapped with a word at
     a random place (the current word is written; the word swapped in is written when the
     walk reaches it);
   * character noise: each word, with chance ``level``, gets a letter inserted, deleted,
     replaced, or two neighbours swapped, at a random place.

Words are whitespace-separated, punctuation included, as in the release ("edema." is not
"edema"). ``rng`` (a seeded ``random.Random``) makes the noise reproducible.
"""

from __future__ import annotations

import csv
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

#: the release's ten keywords (its comment: the top 10 of its reports)
RELEASE_KEYWORDS = ("atelectasis", "lung", "edema", "cardiomegaly", "silhouette",
                    "pneumothorax", "markings", "disease", "NUMBER", "chest")
#: a synonym table in the release's layout for synthclinic-cxr's report words
EMBEDDED_SYNONYMS = Path(__file__).with_name("forget_mi_synonyms.csv")
_LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class Synonyms:
    """``second_word`` -> the ``first_word`` of its most similar row."""

    best: dict[str, str]

    @classmethod
    def read(cls, path: str | Path) -> Synonyms:
        """A CSV with the columns first_word, second_word, similarity (the release's
        Synonyms.csv layout)."""
        from medlethe.errors import DatasetError

        found: dict[str, tuple[float, str]] = {}
        try:
            with open(path, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    score = float(row["similarity"])
                    if row["second_word"] not in found or score > found[row["second_word"]][0]:
                        found[row["second_word"]] = (score, row["first_word"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise DatasetError(
                f"synonym table {path}: {type(exc).__name__}: {exc}. It must be a UTF-8 CSV "
                "with the columns first_word, second_word and similarity (a number)."
            ) from exc
        return cls({k: v for k, (_, v) in found.items()})


def mask_keywords(text: str, rng: Random, keywords: Sequence[str] = RELEASE_KEYWORDS,
                  most: int = 2) -> str:
    """Up to ``most`` of the ``keywords`` found in ``text`` (whole words, any case) replaced
    by ``[NOISE]``."""
    present = [k for k in keywords if re.search(rf"\b{re.escape(k)}\b", text, re.IGNORECASE)]
    if not present:
        return text
    chosen = rng.sample(present, min(len(present), most))
    pattern = r"\b(" + "|".join(re.escape(k) for k in chosen) + r")\b"
    return re.sub(pattern, "[NOISE]", text, flags=re.IGNORECASE)


def word_noise(text: str, rng: Random, level: float, synonyms: Synonyms) -> str:
    words = text.split()
    listed = [w for w in words if w in synonyms.best]
    if listed:
        swap = rng.choice(listed) if len(listed) > 1 else listed[0]
        words = [synonyms.best[w] if w == swap else w for w in words]
    out: list[str] = []
    for i in range(len(words)):
        word = words[i]
        if rng.random() < level:
            kind = rng.choice(("delete", "repeat", "shuffle"))
            if kind == "delete":
                continue
            if kind == "repeat":
                out.append(word)
            elif len(words) > 1:
                j = rng.randint(0, len(words) - 1)
                words[i], words[j] = words[j], words[i]
        out.append(word)
    return " ".join(out)


def char_noise(text: str, rng: Random, level: float) -> str:
    out = []
    for word in text.split():
        if rng.random() < level:
            kind = rng.choice(("insert", "delete", "substitute", "swap"))
            if kind == "insert":
                at = rng.randint(0, len(word))
                word = word[:at] + rng.choice(_LETTERS) + word[at:]
            elif kind == "delete" and len(word) > 1:
                at = rng.randint(0, len(word) - 1)
                word = word[:at] + word[at + 1:]
            elif kind == "substitute":
                at = rng.randint(0, len(word) - 1)
                word = word[:at] + rng.choice(_LETTERS) + word[at + 1:]
            elif kind == "swap" and len(word) > 1:
                at = rng.randint(0, len(word) - 2)
                word = word[:at] + word[at + 1] + word[at] + word[at + 2:]
        out.append(word)
    return " ".join(out)


def release_noise(text: str, rng: Random, level: float, synonyms: Synonyms,
                  keywords: Sequence[str] = RELEASE_KEYWORDS) -> str:
    """The release's noised copy of one report (keywords masked, then word or character
    noise with even odds)."""
    text = mask_keywords(text, rng, keywords)
    if rng.choice(("word", "char")) == "word":
        return word_noise(text, rng, level, synonyms)
    return char_noise(text, rng, level)
