"""Word error rate of Whisper-base (faster-whisper, offline weights) on decoded speech.

Only clips with a transcript in a language of :data:`ASR_LANGUAGES` are scored: Whisper-base
transcribes English well (2.9% WER on clean read speech) but Czech and Dutch poorly, and
their errors would drown the codec's. Texts are normalized before comparison (case,
punctuation, digits spelled out), so "Press 1." matches "press one".
"""
from __future__ import annotations

import re

import numpy as np

ASR_LANGUAGES = ("en",)
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 10**9 (``21`` -> ``twenty one``)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            return f"{number_words(n // size)} {name}" + ("" if rest == 0 else " " + number_words(rest))
    raise ValueError(n)


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation, digits spelled out."""
    text = text.lower().replace("&", " and ").replace("%", " percent")
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} " if len(m.group()) < 10
                  else " ".join(_ONES[int(d)] for d in m.group()), text)
    text = re.sub(r"[^\w' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


class WordErrorRate:
    """Per clip: ``wer`` (errors / reference words) plus the counts for a corpus-level WER."""

    columns = ("wer",)
    reference_free = True

    def __init__(self) -> None:
        from faster_whisper import WhisperModel
        from codec.whisper_base import whisper_base_dir
        self._model = WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8",
                                   cpu_threads=1)

    def transcribe(self, pcm: np.ndarray, language: str) -> str:
        segments, _ = self._model.transcribe(pcm.astype(np.float32), language=language, beam_size=1,
                                             vad_filter=False, condition_on_previous_text=False,
                                             temperature=0.0)
        return " ".join(s.text.strip() for s in segments)

    def score(self, ref: np.ndarray | None, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        if clip is None or not clip.text or clip.language not in ASR_LANGUAGES:
            return {"wer": None}
        words = normalize(clip.text)
        hypothesis = self.transcribe(deg, clip.language)
        errors = edit_distance(words, normalize(hypothesis))
        return {"wer": errors / max(1, len(words)), "wer_errors": errors, "wer_words": len(words),
                "asr_text": hypothesis}
