"""Score free-text answers by the key concepts of a rubric they mention (explainable, not clever).

Reading an answer: its language is detected (`lingua`, with the script deciding for Chinese, Japanese and
Korean), Chinese is split into words with `jieba`, abbreviations are read in full beside their short form
(`SGD`, `lr`...), inline code is read as its words (`loss.backward()`: loss, backward). Concepts are matched
first: a short answer that names the key ideas earns their points, and brevity only lowers the score's
confidence. Each score carries a confidence and the reasons it is low; only low-confidence answers are
flagged for review. An answer in a language the rubric does not cover gets no score: it is withheld for
an instructor to read (`RubricScore.pending`).
"""
from __future__ import annotations

import functools
import math
import re
import unicodedata
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
CHINESE_STOP_WORDS = frozenset(
    "的 了 是 在 和 与 就 都 而 及 着 或 个 一个 这 那 这个 那个 也 有 我们 你 你们 他 它 她 其 把 被 让 对 为 "
    "以 所以 因为 如果 就是 可以 会 要 什么 吗 呢 吧 啊 之 中 上 下 来 去 用 将 并 等 即 则 使 从 到 由 很 更 "
    "还 又 么 怎么 为什么 哪 哪些 它们 他们 一 一种 这样 那样 进行 通过 时 时候".split())
NEGATIONS = frozenset("not don doesn didn isn aren wasn weren cannot won hasn haven shouldn".split())

# Short forms students write, read as their full words too (the short form is kept as well).
ABBREVIATIONS = {
    "sgd": "stochastic gradient descent", "lr": "learning rate", "bs": "batch size", "grad": "gradient",
    "grads": "gradients", "params": "parameters", "param": "parameter", "preds": "predictions",
    "pred": "prediction", "acc": "accuracy", "dl": "dataloader", "dls": "dataloaders", "opt": "optimizer",
    "std": "standard deviation", "func": "function", "fn": "function", "nn": "neural network",
    "relu": "rectified linear unit", "mse": "mean squared error", "rmse": "root mean squared error",
    "matmul": "matrix multiplication", "bwd": "backward", "fwd": "forward", "init": "initialize",
    "w": "weights", "ws": "weights", "val": "validation", "eg": "for example", "dims": "dimensions",
    "dim": "dimension", "gpu": "gpu", "autograd": "automatic gradient",
}

_OPERATORS = [
    (re.compile(r"(?<=[\u4e00-\u9fff\w]) *[-−－] *(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) *[-−－] *(?=\w)"), " minus "),
    (re.compile(r"(?<=[\u4e00-\u9fff\w]) *[×*] *(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) *[×*] *(?=\w)"), " times "),
    (re.compile(r"-="), " minus "),
    (re.compile(r"(?<![\w-])-(?=\d)"), " minus "),
    (re.compile(r"(?<=\S) +- +(?=\S)"), " minus "),
    (re.compile(r"(?<=\S) *\+ *(?=\S)"), " plus "),
    (re.compile(r"(?<=[\w)\]]) \* (?=[\w(])|(?<=[\w)\]])\*(?=[\w(])"), " times "),
]
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_CODE = re.compile(r"```.*?```|`[^`]*`|\S*[._=(\[]\S*", re.S)

# Traditional characters of this chapter's terms, read as simplified so one set of Chinese phrasings serves both.
_TRADITIONAL = str.maketrans(
    "損權數據學習證驗練訓優計積層線陣張隨機為這個義導變擬過準確類組歸複製廣維軸點錯誤較對於與從會將時間預測們減應該"
    "範圖樣處實際現輸標籤簽連續單調遞負換狀長參設適斂發盪裡裏響鬆彎麼還壓縮縱橫態區別條經網絡夠終斷視稱開問題內號冪產",
    "损权数据学习证验练训优计积层线阵张随机为这个义导变拟过准确类组归复制广维轴点错误较对于与从会将时间预测们减应该"
    "范图样处实际现输标签签连续单调递负换状长参设适敛发荡里里响松弯么还压缩纵横态区别条经网络够终断视称开问题内号幂产")
COVERED_LANGUAGES = ("en", "zh")  # languages the rubric's phrasings are written in
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean"}
REVIEW_BELOW = 0.6  # a score with a lower confidence is flagged for review


@dataclass(frozen=True)
class Token:
    """One word of a text: as written (lower case) and stemmed."""

    raw: str
    stem: str


@dataclass(frozen=True)
class Concept:
    """A key idea an answer should contain, recognised by any of its phrasings.

    An English phrasing is a few words matched close together, in any order, ignoring case, punctuation and
    simple word endings; a word ending in `*` matches any word that starts with it (`optimi*`: optimise,
    optimizer...). A Chinese phrasing (`zh`) is matched in the answer's characters, ignoring spaces and
    punctuation; `…` in it stands for a few characters of anything.
    """

    name: str
    phrasings: tuple[str, ...]
    zh: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rubric:
    """The concepts of one question, the fewest own words of a full answer, and the most before it is 'long'."""

    concepts: tuple[Concept, ...]
    min_words: int = 3
    max_words: int = 80


@dataclass(frozen=True)
class RubricScore:
    """Fraction of concepts found, which ones, why an answer got nothing, and how sure the score is.

    `pending`: the score is withheld (a language the rubric does not cover); `review`: why the confidence
    is low (empty when the score can stand without being read).
    """

    fraction: float
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reason: str = ""
    confidence: float = 1.0
    language: str = ""
    review: list[str] = field(default_factory=list)
    pending: bool = False
    words: int = 0

    @property
    def needs_review(self) -> bool:
        """Whether the confidence is too low for the score to stand unread."""
        return self.pending or self.confidence < REVIEW_BELOW


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


def tokens(text: str, *, expand: bool = False) -> list[Token]:
    """Latin-script words of `text` in order, lower-cased, with operators spelt out and hyphenated words split;
    with `expand`, each known abbreviation is followed by its full words."""
    text = unicodedata.normalize("NFKC", text).lower()
    for pattern, words in _OPERATORS:
        text = pattern.sub(words, text)
    found = []
    for word in _WORD.findall(text):
        found.append(Token(word, stem(word)))
        if expand and word in ABBREVIATIONS and ABBREVIATIONS[word] != word:
            found += [Token(w, stem(w)) for w in ABBREVIATIONS[word].split()]
    return found


@functools.lru_cache(maxsize=1)
def _jieba():
    """jieba, loaded once and quiet."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def cjk_words(text: str) -> list[str]:
    """The Chinese (or Japanese, Korean) words of `text`: jieba's segmentation of each run of CJK characters."""
    words = []
    for run in _CJK_RUN.findall(text.translate(_TRADITIONAL)):
        if _KANA.search(run) or _HANGUL.search(run):  # no Japanese or Korean segmenter: runs by script
            words += re.findall(r"[\u3040-\u309f]+|[\u30a0-\u30ff]+|[\u3400-\u9fff]+|[\uac00-\ud7af]+", run)
        else:
            words += [w for w in _jieba().lcut(run) if w.strip()]
    return words


def content_stems(text: str) -> set[str]:
    """Stems of the words of `text` that carry meaning (stop words dropped), Chinese words included."""
    return ({t.stem for t in tokens(text) if t.raw not in STOP_WORDS}
            | {w for w in cjk_words(text) if w not in CHINESE_STOP_WORDS})


@functools.lru_cache(maxsize=1)
def _detector():
    """A lingua detector over the languages students of this course are likely to write in (lazy models)."""
    from lingua import Language, LanguageDetectorBuilder

    names = ("ENGLISH", "FRENCH", "GERMAN", "SPANISH", "PORTUGUESE", "ITALIAN", "DUTCH", "RUSSIAN", "UKRAINIAN",
             "POLISH", "TURKISH", "VIETNAMESE", "INDONESIAN", "ARABIC", "HINDI", "PERSIAN", "SWEDISH", "CZECH")
    return LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in names)).build()


def detect_language(text: str) -> str:
    """ISO 639-1 code of the answer's prose ('' when there is none): the script decides for Chinese, Japanese
    and Korean; otherwise `lingua` on the prose without its code, English unless another language is clear."""
    prose = _CODE.sub(" ", text)
    if len(_KANA.findall(prose)) >= 2:
        return "ja"
    if len(_HANGUL.findall(prose)) >= 2:
        return "ko"
    if len(_HAN.findall(prose)) >= 2:
        return "zh"
    words = re.findall(r"[^\W\d_]+", prose.lower())
    if not words:
        return "en" if _WORD.search(text.lower()) else ""
    english = sum(w in STOP_WORDS for w in words) / len(words)
    if len(words) < 5 or english >= 0.2:
        return "en"
    values = _detector().compute_language_confidence_values(" ".join(words))
    best = values[0]
    english_value = next((v.value for v in values if v.language.name == "ENGLISH"), 0.0)
    if best.language.name != "ENGLISH" and best.value >= 0.4 and english_value < 0.15:
        code = best.language.iso_code_639_1.name.lower()
        LANGUAGE_NAMES.setdefault(code, best.language.name.title())
        return code
    return "en"


def language_name(code: str) -> str:
    """`Chinese` for 'zh' (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(code, code)


def mentions(answer: list[Token], phrasing: str) -> bool:
    """Whether the words of `phrasing` occur close together in `answer`: consecutively, or in any order within
    a window of two more words than the phrasing has."""
    return _mention_at(answer, phrasing) is not None


def _mention_at(answer: list[Token], phrasing: str) -> tuple[int, int] | None:
    """(start, end) of the first window of `answer` that mentions `phrasing` (None when none does)."""
    wanted = [(word[:-1], True) if word.endswith("*") else (stem(word), False)
              for word in re.findall(r"[a-z0-9]+\*?", _spell_out(phrasing.lower()))]
    if not wanted:
        return None

    def fits(token: Token, want: tuple[str, bool]) -> bool:
        return token.raw.startswith(want[0]) if want[1] else token.stem == want[0]

    for start in range(len(answer) - len(wanted) + 1):
        if all(fits(t, w) for t, w in zip(answer[start:start + len(wanted)], wanted)):
            return start, start + len(wanted)
    if len(wanted) > 1:
        size = len(wanted) + 2
        for start in range(len(answer)):
            window = answer[start:start + size]
            if not any(fits(window[0], w) for w in wanted):
                continue
            if all(any(fits(t, w) for t in window) for w in wanted):
                return start, start + size
    return None


def _compact(text: str) -> str:
    """Lower-cased characters of `text` without spaces or punctuation (for Chinese phrasings)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TRADITIONAL)
    return "".join(ch for ch in text if ch.isalnum())


def mentions_chinese(compact: str, phrasing: str) -> bool:
    """Whether a Chinese phrasing occurs in an answer's compact characters (`…`: up to 8 characters between)."""
    parts = [_compact(part) for part in phrasing.split("…")]
    pattern = ".{0,8}?".join(re.escape(part) for part in parts if part)
    return bool(pattern) and re.search(pattern, compact) is not None


def score_answer(answer: str, *, prompt: str, rubric: Rubric) -> RubricScore:
    """Fraction of the rubric's concepts mentioned, to the nearest quarter, with a confidence.

    Nothing is scored for an empty answer or one that only repeats the question; an answer in a language
    the rubric does not cover is withheld (pending review). Otherwise the concepts decide the score and
    length only changes the confidence.
    """
    names = [concept.name for concept in rubric.concepts]
    own = content_stems(answer)
    if not own:
        return RubricScore(0.0, [], names, "empty answer")
    language = detect_language(answer)
    if language and language not in COVERED_LANGUAGES:
        return RubricScore(0.0, [], names, f"needs review (language: {language_name(language)}): score withheld",
                           confidence=0.0, language=language, pending=True, words=len(own),
                           review=[f"language: {language_name(language)}"])
    if not own - content_stems(prompt):
        return RubricScore(0.0, [], names, "repeats the question instead of answering it", confidence=0.9,
                           language=language, words=len(own))
    words = tokens(answer, expand=True)
    compact = _compact(answer)
    found, spans = [], []
    for concept in rubric.concepts:
        where = next((span for p in concept.phrasings if (span := _mention_at(words, p)) is not None), None)
        if where is not None or any(mentions(words, p) if p.isascii() else mentions_chinese(compact, p)
                                    for p in concept.zh):
            found.append(concept.name)
            spans.append(where)
    missing = [name for name in names if name not in found]
    fraction = to_quarter(len(found) / len(names)) if names else 0.0
    confidence, review = _confidence(answer, words, spans, own, fraction, found, rubric)
    reason = "" if found else (f"too short (fewer than {rubric.min_words} words of its own) and none of the key "
                               f"ideas" if len(own) < rubric.min_words else "")
    return RubricScore(fraction, found, missing, reason, confidence, language, review, words=len(own))


def _confidence(answer: str, words: list[Token], spans: list, own: set[str], fraction: float, found: list[str],
                rubric: Rubric) -> tuple[float, list[str]]:
    """How sure a score is (0..1) and why not, from how much matched, the length and negations."""
    confidence, review = 0.9, []
    total = len(rubric.concepts)
    if 0 < fraction < 1:
        if len(own) >= 2 * rubric.min_words + len(found) and fraction <= 0.5:
            confidence -= 0.4  # much said, little recognised: perhaps in words the rubric lacks
            review.append(f"partial match: {len(found)} of {total} key ideas recognised in a longer answer")
        else:
            confidence -= 0.2
    if fraction == 0 and len(own) >= 12:
        confidence -= 0.4
        review.append("no key idea recognised in a substantive answer")
    if len(own) < rubric.min_words:
        confidence -= 0.15  # brevity lowers confidence, it does not cost points
        if 0 < fraction < 1:
            review.append(f"a short answer ({len(own)} words of its own) that gets part of the points")
    length = sum(t.raw not in STOP_WORDS for t in tokens(answer)) + sum(
        w not in CHINESE_STOP_WORDS for w in cjk_words(answer))
    if length > rubric.max_words:
        confidence -= 0.4
        review.append(f"much longer than expected ({length} words, {rubric.max_words} expected at most)")
    if fraction >= 0.75 and _negated(answer, words, spans):
        confidence -= 0.4
        review.append("a negation near the key ideas: check the meaning")
    return round(max(confidence, 0.0), 2), review


def _negated(answer: str, words: list[Token], spans: list) -> bool:
    """Whether a negation stands just before a matched concept (and is not part of the match)."""
    for span in spans:
        if span is None:
            continue
        start, _ = span
        before = words[max(0, start - 2):start]
        if any(t.raw in NEGATIONS for t in before):
            return True
    return False


def to_quarter(fraction: float) -> float:
    """The nearest multiple of 0.25 (halves up), keeping 0 for nothing and 1 for everything."""
    if fraction <= 0 or fraction >= 1:
        return min(max(fraction, 0.0), 1.0)
    return min(max(math.floor(fraction * 4 + 0.5) / 4, 0.25), 0.75)


def load_rubrics(path: Path) -> dict[str, tuple[float, Rubric]]:
    """(points, rubric) per question from a rubric TOML file (format described in its header)."""
    table = tomllib.loads(Path(path).read_text())
    return {question: (float(entry["points"]),
                       Rubric(tuple(Concept(c["name"], tuple(c["says"]), tuple(c.get("zh", ())))
                                    for c in entry.get("concepts", [])),
                              int(entry.get("min_words", 3)), int(entry.get("max_words", 80))))
            for question, entry in table.items()}


def similarity(first: str, second: str) -> float:
    """How alike two answers are (0..1): overlap of their word trigrams, Chinese characters as words."""
    def shingles(text: str) -> set[tuple[str, ...]]:
        units = [t.stem for t in tokens(text)] + list(_HAN.findall(text))
        return {tuple(units[i:i + 3]) for i in range(max(1, len(units) - 2))} if units else set()

    a, b = shingles(first), shingles(second)
    return len(a & b) / len(a | b) if a and b else 0.0


def _spell_out(text: str) -> str:
    """Apply the operator spelling of `tokens` to a phrasing, keeping its `*` wildcards."""
    for pattern, words in _OPERATORS[:-1]:
        text = pattern.sub(words, text)
    return text


COPY_SIMILARITY = 0.7  # answers this alike (word trigrams) are near-copies
COPY_MIN_WORDS = 6  # shorter answers are alike by necessity ("Matrix multiplication.")


def near_copies(answers: list[tuple[str, str]]) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for each pair of answers to one question by different authors that are near-copies.

    `answers`: (author, text) pairs. Answers shorter than COPY_MIN_WORDS words of their own are never paired.
    """
    long_enough = [i for i, (_, text) in enumerate(answers) if len(content_stems(text)) >= COPY_MIN_WORDS]
    pairs = []
    for position, i in enumerate(long_enough):
        for j in long_enough[position + 1:]:
            if answers[i][0] != answers[j][0]:
                alike = similarity(answers[i][1], answers[j][1])
                if alike >= COPY_SIMILARITY:
                    pairs.append((i, j, round(alike, 2)))
    return pairs
