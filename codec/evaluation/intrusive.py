"""Intrusive metrics (decoded vs. reference): PESQ wide/narrow band (ITU-T P.862) and STOI."""
from __future__ import annotations

import numpy as np

from codec.resample import resample

RATE = 16000


class Pesq:
    """PESQ-WB at 16 kHz and PESQ-NB on both signals resampled to 8 kHz (MOS-LQO)."""

    columns = ("pesq_wb", "pesq_nb")

    def __init__(self) -> None:
        from pesq import pesq
        self._pesq = pesq

    def _one(self, rate: int, ref: np.ndarray, deg: np.ndarray, mode: str) -> float | None:
        from pesq import PesqError
        try:
            return float(self._pesq(rate, ref, deg, mode))
        except (PesqError, ValueError):  # no utterance detected; pesq fails with ValueError on silence
            return None

    def score(self, ref: np.ndarray, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        nb_ref, nb_deg = resample(ref, RATE, 8000), resample(deg, RATE, 8000)
        return {"pesq_wb": self._one(RATE, ref, deg, "wb"),
                "pesq_nb": self._one(8000, nb_ref, nb_deg, "nb")}


class Stoi:
    """Short-time objective intelligibility (0..1)."""

    columns = ("stoi",)

    def __init__(self) -> None:
        from pystoi import stoi
        self._stoi = stoi

    def score(self, ref: np.ndarray, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        return {"stoi": float(self._stoi(ref, deg, RATE, extended=False))}
