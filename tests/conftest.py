"""Fixtures shared across the suite."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils import SENTENCES, espeak_wav


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few seconds of real synthesized English speech (espeak-ng, 22.05 kHz mono WAV)."""
    return espeak_wav(tmp_path_factory.mktemp("speech") / "speech.wav", " ".join(SENTENCES))
