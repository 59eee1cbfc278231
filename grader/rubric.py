"""Score free-text answers by the key concepts of a rubric they mention (explainable, not clever)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

STOP_WORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that "
    "these those there their they them we you your i me my our us he she his her do does did can could "
    "would should will shall may might must so if then than which what who whom whose why how when where "
    "into onto out up down over under about also just only very more most such some any each every all "
    "no not yes one".split())

_OPERATORS = [
    (re.compile(r"-="), " minus "),
    (re.compile(r"(?<![\w-])-(?=\d)"), " minus "),
    (re.compile(r"(?<=\S) +- +(?=\S)"), " minus "),
    (re.compile(r"(?<=\S) *\+ *(?=\S)"), " plus "),
    (re.compile(r"(?<=[\w)\]]) \* (?=[\w(])|(?<=[\w)\]])\*(?=[\w(])"), " times "),
]
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Token:
    """One word of a text: as written (lower case) and stemmed."""

    raw: str
    stem: str


@dataclass(frozen=True)
class Concept:
    """A key idea an answer should contain, recognised by any of its phrasings.

    A phrasing is a few words matched in order, ignoring case, punctuation and simple word endings;
    a word ending in `*` matches any word that starts with it (`optimi*`: optimise, optimizer...).
    """

    name: str
    phrasings: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    """The concepts of one question and the fewest own words an answer needs to be scored."""

    concepts: tuple[Concept, ...]
    min_words: int = 3


@dataclass(frozen=True)
class RubricScore:
    """Fraction of concepts found, which ones, and why an answer got nothing (empty when scored)."""

    fraction: float
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reason: str = ""


def stem(word: str) -> str:
    """A crude, consistent stem: plural and verb endings and a final 'e' removed."""
    if len(word) <= 3 or word.isdigit():
        return word
    word = _drop_ending(word, (("ies", "y"), ("sses", "ss"), ("es", "e"), ("s", "")),
                        keep=("ss", "us", "is", "as"))
    word = _drop_ending(word, (("ied", "y"), ("ing", ""), ("ed", "")), keep=())
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _drop_ending(word: str, endings: tuple[tuple[str, str], ...], *, keep: tuple[str, ...]) -> str:
    """Replace the first matching ending, leaving at least three letters and words ending in `keep`."""
    if word.endswith(keep):
        return word
    for ending, replacement in endings:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: len(word) - len(ending)] + replacement
    return word


def tokens(text: str) -> list[Token]:
    """Words of `text` in order, lower-cased, with operators spelt out and hyphenated words split."""
    text = text.lower()
    for pattern, words in _OPERATORS:
        text = pattern.sub(words, text)
    return [Token(word, stem(word)) for word in _WORD.findall(text)]


def content_stems(text: str) -> set[str]:
    """Stems of the words of `text` that carry meaning (stop words dropped)."""
    return {t.stem for t in tokens(text) if t.raw not in STOP_WORDS}


def mentions(answer: list[Token], phrasing: str) -> bool:
    """Whether the words of `phrasing` occur consecutively in `answer`."""
    wanted = [(word[:-1], True) if word.endswith("*") else (stem(word), False)
              for word in re.findall(r"[a-z0-9]+\*?", _spell_out(phrasing.lower()))]
    if not wanted:
        return False
    for start in range(len(answer) - len(wanted) + 1):
        window = answer[start:start + len(wanted)]
        if all(t.raw.startswith(w) if prefix else t.stem == w for t, (w, prefix) in zip(window, wanted)):
            return True
    return False


def score_answer(answer: str, *, prompt: str, rubric: Rubric) -> RubricScore:
    """Fraction of the rubric's concepts mentioned, to the nearest quarter; 0 for empty, too short or
    question-copying answers."""
    names = [concept.name for concept in rubric.concepts]
    own_words = content_stems(answer)
    if not own_words:
        return RubricScore(0.0, [], names, "empty answer")
    if len(own_words) < rubric.min_words:
        return RubricScore(0.0, [], names, f"too short (fewer than {rubric.min_words} words of its own)")
    if len(own_words - content_stems(prompt)) < rubric.min_words:
        return RubricScore(0.0, [], names, "repeats the question instead of answering it")
    words = tokens(answer)
    found = [c.name for c in rubric.concepts if any(mentions(words, p) for p in c.phrasings)]
    missing = [name for name in names if name not in found]
    return RubricScore(to_quarter(len(found) / len(names)) if names else 0.0, found, missing)


def to_quarter(fraction: float) -> float:
    """The nearest multiple of 0.25 (halves up), keeping 0 for nothing and 1 for everything."""
    if fraction <= 0 or fraction >= 1:
        return min(max(fraction, 0.0), 1.0)
    return min(max(math.floor(fraction * 4 + 0.5) / 4, 0.25), 0.75)


def load_rubrics(path: Path) -> dict[str, tuple[float, Rubric]]:
    """(points, rubric) per question from a rubric TOML file (format described in its header)."""
    table = tomllib.loads(Path(path).read_text())
    return {question: (float(entry["points"]),
                       Rubric(tuple(Concept(c["name"], tuple(c["says"])) for c in entry.get("concepts", [])),
                              int(entry.get("min_words", 3))))
            for question, entry in table.items()}


def _spell_out(text: str) -> str:
    """Apply the operator spelling of `tokens` to a phrasing, keeping its `*` wildcards."""
    for pattern, words in _OPERATORS[:-1]:
        text = pattern.sub(words, text)
    return text
