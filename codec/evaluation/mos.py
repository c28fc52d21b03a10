"""Non-intrusive quality predictors: DNSMOS P.835 overall (model from speechmos) and DistillMOS."""
from __future__ import annotations

import contextlib
import io
import sys
import types

import numpy as np

RATE = 16000


class DnsMos:
    """DNSMOS P.835 overall quality (OVRL, 1..5) of the decoded speech alone.

    Runs the P.835 model shipped by ``speechmos`` the way Microsoft's reference script does
    (9.01 s windows, clips looped up to that length, 1 s hop, polynomial calibration), but on
    one onnxruntime thread and without the separate P.808 model we do not report.
    """

    columns = ("dnsmos",)
    reference_free = True
    WINDOW = int(9.01 * RATE)
    # raw -> calibrated P.835 scores (Microsoft's reference script, non-personalised model)
    SIG_POLY = (-0.08397278, 1.22083953, 0.0052439)
    BAK_POLY = (-0.13166888, 1.60915514, -0.39604546)
    OVRL_POLY = (-0.06766283, 1.11546468, 0.04602535)

    def __init__(self) -> None:
        import os
        import onnxruntime as ort
        import speechmos
        model = os.path.join(os.path.dirname(speechmos.__file__), "dnsmos_models", "sig_bak_ovr.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def components(self, deg: np.ndarray) -> dict[str, float]:
        """P.835 signal (``sig``), background (``bak``) and overall (``ovrl``) quality of ``deg``."""
        audio = np.clip(np.asarray(deg, dtype=np.float32), -1.0, 1.0)
        if len(audio) == 0:
            raise ValueError("DNSMOS needs a non-empty signal")
        while len(audio) < self.WINDOW:
            audio = np.concatenate([audio, audio])
        hops = int(np.floor(len(audio) / RATE) - self.WINDOW / RATE) + 1
        scores = []
        for i in range(hops):
            window = audio[i * RATE: i * RATE + self.WINDOW]
            if len(window) < self.WINDOW:
                continue
            raw = self._session.run(None, {"input_1": window[np.newaxis, :]})[0][0]
            scores.append([np.polyval(poly, value) for poly, value
                           in zip((self.SIG_POLY, self.BAK_POLY, self.OVRL_POLY), raw)])
        sig, bak, ovrl = np.mean(scores, axis=0)
        return {"sig": float(sig), "bak": float(bak), "ovrl": float(ovrl)}

    def score(self, ref: np.ndarray | None, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        return {"dnsmos": self.components(deg)["ovrl"]}


class DistillMos:
    """DistillMOS (a small model distilled from an XLS-R quality predictor), 1..5."""

    columns = ("distillmos",)
    reference_free = True

    def __init__(self) -> None:
        import torch
        # distillmos imports torchaudio only for its file-reading CLI; torchaudio wheels pin
        # their own torch, so it is not installed: an empty stand-in satisfies the import.
        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
        import distillmos
        self._torch = torch
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line on load; stdout is the table's
            self._model = distillmos.ConvTransformerSQAModel()
        self._model.eval()

    def score(self, ref: np.ndarray | None, deg: np.ndarray, clip=None) -> dict[str, float | None]:
        with self._torch.no_grad():
            x = self._torch.from_numpy(deg.astype(np.float32)).unsqueeze(0)
            return {"distillmos": float(self._model(x).item())}
