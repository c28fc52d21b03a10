"""Speaker similarity: cosine of resemblyzer d-vectors of decoded and reference speech."""
from __future__ import annotations

import numpy as np

RATE = 16000


class SpeakerSimilarity:
    """Cosine similarity (-1..1, same speaker ≈ 0.8+) of GE2E speaker embeddings."""

    columns = ("speaker_sim",)

    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder
        self._encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed(self, pcm: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav
        wav = preprocess_wav(pcm.astype(np.float32), source_sr=RATE)
        if len(wav) < RATE // 4:  # resemblyzer's VAD removed nearly everything
            wav = pcm.astype(np.float32)
        return self._encoder.embed_utterance(wav)

    def score(self, ref: np.ndarray, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        a, b = self.embed(ref), self.embed(deg)
        return {"speaker_sim": float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))}
