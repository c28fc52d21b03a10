"""Word error rate of Whisper-base (faster-whisper, offline weights) on decoded speech.

Only clips with a transcript in a language of :data:`ASR_LANGUAGES` are scored: Whisper-base
transcribes English well (2.9% WER on clean read speech) but Czech and Dutch poorly, and
their errors would drown the codec's. Texts are normalized before comparison (case,
punctuation, digits spelled out), so "Press 1." matches "press one".

Greedy decoding sometimes loops on degraded speech ("5, 5, 5, …" for a seven-word prompt),
and one such clip can move a pooled WER by tens of points. A segment whose text compresses
better than :data:`LOOP_RATIO` (Whisper's own test for repetitive output) is decoded again,
still greedily, with repeated 3-grams forbidden; the row records that it was.
"""
from __future__ import annotations

import re

import numpy as np

ASR_LANGUAGES = ("en",)
LOOP_RATIO = 2.4  # gzip compression ratio of a segment's text above which Whisper calls it a loop
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

    def __init__(self, loop_ratio: float = LOOP_RATIO) -> None:
        from faster_whisper import WhisperModel
        from codec.whisper_base import whisper_base_dir
        self._model = WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8",
                                   cpu_threads=1)
        self.loop_ratio = loop_ratio

    def transcribe(self, pcm: np.ndarray, language: str) -> tuple[str, bool]:
        """The text, and whether a loop made it decode again without repeated 3-grams."""
        text, ratio = self._decode(pcm, language, no_repeat_ngram_size=0)
        if ratio <= self.loop_ratio:
            return text, False
        return self._decode(pcm, language, no_repeat_ngram_size=3)[0], True

    def _decode(self, pcm: np.ndarray, language: str, no_repeat_ngram_size: int) -> tuple[str, float]:
        """Greedy, deterministic transcription and its segments' highest compression ratio."""
        segments, _ = self._model.transcribe(pcm.astype(np.float32), language=language, beam_size=1,
                                             vad_filter=False, condition_on_previous_text=False,
                                             temperature=0.0, compression_ratio_threshold=None,
                                             no_repeat_ngram_size=no_repeat_ngram_size)
        segments = list(segments)
        return (" ".join(s.text.strip() for s in segments),
                max((s.compression_ratio for s in segments), default=0.0))

    def score(self, ref: np.ndarray | None, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        if clip is None or not clip.text or clip.language not in ASR_LANGUAGES:
            return {"wer": None}
        words = normalize(clip.text)
        hypothesis, retried = self.transcribe(deg, clip.language)
        errors = edit_distance(words, normalize(hypothesis))
        return {"wer": errors / max(1, len(words)), "wer_errors": errors, "wer_words": len(words),
                "asr_text": hypothesis, "asr_loop_retry": retried}
