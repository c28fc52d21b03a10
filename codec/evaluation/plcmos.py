"""PLCMOS v2 (model shipped by ``speechmos``): how well lost-packet concealment sounds, 1..5."""
from __future__ import annotations

import numpy as np


class PlcMos:
    """Non-intrusive packet-loss-concealment MOS of the decoded speech alone."""

    columns = ("plcmos",)
    reference_free = True

    def __init__(self, embed_rounds: int = 15) -> None:
        from speechmos.plcmos import PLCMOS

        self._model = PLCMOS(embed_rounds=embed_rounds)

    def score(self, ref: np.ndarray | None, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        audio = np.clip(np.asarray(deg, dtype=np.float32), -1.0, 1.0)
        if len(audio) == 0:
            raise ValueError("PLCMOS needs a non-empty signal")
        return {"plcmos": float(self._model.get_mos(audio, 16000))}
