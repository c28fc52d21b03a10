"""codec.opus: one packet per 20 ms frame, alignment, PLC, FEC, payload checks."""
from __future__ import annotations

import numpy as np
import pytest
from pystoi import stoi

from codec.base import CodecError
from codec.opus import BITRATES_KBPS, FRAME_SAMPLES, OpusCodec
from codec.roundtrip import roundtrip
from codec.wavio import read_wav
from tests.utils import best_lag


@pytest.fixture(scope="module")
def speech(speech_wav) -> np.ndarray:
    return read_wav(speech_wav, 16000)


def _frames(x: np.ndarray) -> list[np.ndarray]:
    return [x[i:i + FRAME_SAMPLES] for i in range(0, len(x) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


@pytest.mark.parametrize("kbps", BITRATES_KBPS)
def test_one_packet_per_frame_near_nominal_bitrate(speech: np.ndarray, kbps: int) -> None:
    codec = OpusCodec(kbps)
    assert (codec.name, codec.sample_rate, codec.frame_ms, codec.bitrate) == (
        f"opus-{kbps}k", 16000, 20.0, kbps * 1000)
    enc, dec = codec.encoder(), codec.decoder()
    sizes = []
    for frame in _frames(speech):
        payload = enc.encode(frame)  # returned at once: no packets held back
        assert isinstance(payload, bytes) and 1 <= len(payload)
        out = dec.decode(payload)
        assert out.dtype == np.float32 and out.shape == (FRAME_SAMPLES,)
        sizes.append(len(payload))
    measured = 8 * np.mean(sizes) * 50
    assert 0.8 * codec.bitrate <= measured <= 1.05 * codec.bitrate


@pytest.mark.parametrize("kbps,fec", [(k, False) for k in BITRATES_KBPS] + [(16, True)])
def test_delay_aligns_output(speech: np.ndarray, kbps: int, fec: bool) -> None:
    codec = OpusCodec(kbps, fec=fec)
    assert codec.delay_samples == codec.lookahead + (FRAME_SAMPLES if fec else 0)
    y = roundtrip(codec, speech, 16000)
    assert abs(best_lag(speech, y, 200)) <= 2


def test_plc_fills_a_lost_frame_with_speech(speech: np.ndarray) -> None:
    codec = OpusCodec(8)
    enc, dec = codec.encoder(), codec.decoder()
    frames = _frames(speech)
    energies = [float(np.sqrt(np.mean(f ** 2))) for f in frames]
    lost = int(np.argmax(energies[5:-5])) + 5  # the loudest frame: surely voiced
    out = [dec.decode(None if i == lost else enc.encode(f)) for i, f in enumerate(frames)]
    concealed = out[lost]
    assert np.all(np.isfinite(concealed))
    assert np.sqrt(np.mean(concealed ** 2)) > 0.2 * np.sqrt(np.mean(out[lost - 1] ** 2))


def test_long_loss_fades_and_recovers(speech: np.ndarray) -> None:
    codec = OpusCodec(8)
    enc, dec = codec.encoder(), codec.decoder()
    frames = _frames(speech)
    gap = range(20, 45)  # 500 ms
    out = [dec.decode(None if i in gap else enc.encode(f)) for i, f in enumerate(frames)]
    rms = np.array([np.sqrt(np.mean(o ** 2)) for o in out])
    assert np.all(np.isfinite(np.concatenate(out)))
    assert rms[gap.stop - 3:gap.stop].max() < 0.1 * rms[gap.start - 5:gap.start].max()
    assert rms[gap.stop + 2:gap.stop + 20].max() > 0.01  # decoding resumes


def test_fec_recovers_isolated_losses(speech: np.ndarray) -> None:
    lost = set(range(3, 1000, 5))  # 20% loss, never two in a row
    plain = stoi(speech, roundtrip(OpusCodec(16), speech, 16000, lost), 16000)
    fec = stoi(speech, roundtrip(OpusCodec(16, fec=True), speech, 16000, lost), 16000)
    assert fec > plain + 0.03  # measured 0.93 vs 0.84


def test_fec_decoder_runs_one_frame_late(speech: np.ndarray) -> None:
    codec = OpusCodec(16, fec=True)
    enc, dec = codec.encoder(), codec.decoder()
    frames = _frames(speech)[:6]
    first = dec.decode(enc.encode(frames[0]))
    assert first.shape == (FRAME_SAMPLES,) and not first.any()  # frame -1: nothing yet
    for f in frames[1:]:
        assert dec.decode(enc.encode(f)).shape == (FRAME_SAMPLES,)
    assert np.all(np.isfinite(dec.decode(None))) and np.all(np.isfinite(dec.decode(None)))


@pytest.mark.parametrize("fec", [False, True])
@pytest.mark.parametrize("payload,message", [
    (b"", "1..1275 bytes"),
    (b"\x00" * 1276, "1..1275 bytes"),
    (b"\x50" + b"\x11" * 20, "640 samples"),  # TOC config 10: a 40 ms SILK frame
    (b"\x4b\x00", "bad Opus packet"),  # code 3 with a frame count of zero
    (b"\x5b\x03", "bad Opus packet"),  # three 60 ms frames: over the 120 ms limit
    (b"\x42\xc8\x00\x00", "bad Opus packet"),  # two 10 ms frames, the first 200 bytes long: truncated
])
def test_bad_payloads_raise(payload: bytes, message: str, fec: bool) -> None:
    with pytest.raises(CodecError, match=message):
        OpusCodec(8, fec=fec).decoder().decode(payload)


def test_bad_frames_and_settings_raise() -> None:
    enc = OpusCodec(8).encoder()
    with pytest.raises(CodecError, match="frames of shape"):
        enc.encode(np.zeros(FRAME_SAMPLES - 1, dtype=np.float32))
    with pytest.raises(CodecError, match="must be bytes"):
        OpusCodec(8).decoder().decode([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="bitrate"):
        OpusCodec(7)
