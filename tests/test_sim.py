"""focalcall sim: the live media path offline, over netem-style impairments."""
import subprocess
import sys

import numpy as np
import pytest
from pystoi import stoi

from codec.registry import get_codec
from codec.roundtrip import roundtrip
from codec.wavio import read_wav
from callsim.cli import simulate_call
from tests.utils import best_lag


def test_perfect_network_gives_the_offline_roundtrip(speech_wav):
    pcm = read_wav(speech_wav, 16000)
    r = simulate_call(pcm, "codec2-1200")
    assert len(r.audio) == len(pcm)
    assert r.packets_lost_network == 0 and r.frames_concealed == 0 and r.frames_unplayed == 0
    offline = roundtrip(get_codec("codec2-1200"), pcm, 16000)
    assert best_lag(offline, r.audio, 40) == 0
    assert stoi(offline, r.audio, 16000) > 0.97  # Codec2 synthesis has random phases
    assert r.payload_bps == 1200 and r.wire_bps > r.packet_bps > r.payload_bps


def test_default_redundancy_recovers_20_percent_random_loss(speech_wav):
    pcm = np.tile(read_wav(speech_wav, 16000), 4)  # ~25 s
    clean = simulate_call(pcm, "codec2-700c")
    lossy = simulate_call(pcm, "codec2-700c", "loss 20%", seed=3)
    assert 0.15 < lossy.loss_before < 0.25
    assert lossy.frames_recovered > 0
    assert lossy.loss_after <= 0.01
    assert stoi(pcm, lossy.audio, 16000) >= stoi(pcm, clean.audio, 16000) - 0.03


def test_without_redundancy_loss_is_concealed_and_costs_quality(speech_wav):
    pcm = read_wav(speech_wav, 16000)
    r = simulate_call(pcm, "codec2-700c", "loss 30%", seed=1, redundancy=0, adapt=False)
    assert r.frames_recovered == 0 and r.loss_after > 0.1
    assert len(r.audio) == len(pcm) and np.isfinite(r.audio).all()


def test_cli_reports_and_refuses_bad_specs(speech_wav, tmp_path):
    out = tmp_path / "out.wav"
    ok = subprocess.run([sys.executable, "-m", "focalcall", "sim", str(speech_wav), str(out), "--codec",
                         "codec2-1200", "--netem", "loss 10% delay 40ms 20ms"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "after recovery" in ok.stdout and "on the wire" in ok.stdout
    assert len(read_wav(out, 16000)) == len(read_wav(speech_wav, 16000))
    bad = subprocess.run([sys.executable, "-m", "focalcall", "sim", str(speech_wav), str(out), "--netem",
                          "loss lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "lots" in bad.stderr


def test_receiver_reports_make_the_sender_add_redundancy(speech_wav):
    pcm = np.tile(read_wav(speech_wav, 16000), 3)
    fixed = simulate_call(pcm, "codec2-700c", "loss 20%", seed=2, redundancy=0, adapt=False)
    adapted = simulate_call(pcm, "codec2-700c", "loss 20%", seed=2, redundancy=0, adapt=True)
    assert fixed.frames_recovered == 0
    assert adapted.frames_recovered > 0 and adapted.loss_after < fixed.loss_after / 2
    assert adapted.packet_bps > fixed.packet_bps  # the redundancy it added travels


def test_dtx_talk_pause_talk_keeps_onsets_and_plays_comfort_noise(speech_wav):
    """DTX: no clipped onsets (first 40 ms of each talk spurt within 3 dB of the lossless
    decode), comfort noise at the background level in the pauses, far fewer packets there."""
    from codec.vad import level_db

    talk = read_wav(speech_wav, 16000)[: 3 * 16000]
    pause = np.zeros(int(1.5 * 16000), np.float32)
    pcm = np.concatenate([pause, talk, pause, talk, pause])
    pcm = pcm + 10 ** (-50 / 20) * np.random.default_rng(0).standard_normal(len(pcm)).astype(np.float32)
    lossless = simulate_call(pcm, "focal-800")
    dtx = simulate_call(pcm, "focal-800", dtx=True)
    assert dtx.frames_concealed == 0 and dtx.frames_comfort > 0 and dtx.keepalives > 0
    for start in (len(pause), 2 * len(pause) + len(talk)):  # each talk spurt
        k = start
        while level_db(pcm[k:k + 320]) < -40:  # espeak's own leading silence
            k += 320
        onset = slice(k, k + 640)
        assert abs(level_db(dtx.audio[onset]) - level_db(lossless.audio[onset])) < 3.0
    for start in (len(pause) + len(talk), 2 * len(pause) + 2 * len(talk)):  # the pauses' middles
        middle = slice(start + 4000, start + 16000)
        assert abs(level_db(dtx.audio[middle]) - (-50)) < 4.0  # the codec alone plays near silence
    held = dtx.frames_held
    assert held >= 3 * (len(pause) // 320 - 12)  # the three pauses, less the hangover
    # In the pauses only keep-alives go out (one every 400 ms instead of 25 packets a second).
    assert dtx.packets_sent <= lossless.packets_sent - held / 2 + dtx.keepalives + 3
    assert dtx.keepalives <= held / 20 + 4


def test_conversation_on_the_wire_with_dtx_and_a_cap(speech_wav):
    """A turn-taking input: DTX halves the default on-wire rate; --max-bitrate 12000 keeps the
    stream (packets and the SACKs back) under 12 kbit/s by packing more frames."""
    talk = read_wav(speech_wav, 16000)[: 4 * 16000]
    turn = np.concatenate([talk, np.zeros(len(talk) + 16000, np.float32)])  # then the other side talks
    pcm = np.tile(turn, 2)
    pcm = pcm + 10 ** (-60 / 20) * np.random.default_rng(1).standard_normal(len(pcm)).astype(np.float32)
    plain = simulate_call(pcm, "focal-800")
    dtx = simulate_call(pcm, "focal-800", dtx=True)
    capped = simulate_call(pcm, "focal-800", dtx=True, max_bitrate=12000)
    assert plain.frames_per_packet == dtx.frames_per_packet == 2
    assert plain.wire_bps == pytest.approx(25000, rel=0.02)
    assert dtx.wire_bps <= 0.55 * plain.wire_bps and dtx.dtx_share > 0.5  # about the share of silence
    assert capped.frames_per_packet == 8 and capped.both_ways_bps < 12000 and capped.frames_concealed == 0
    assert stoi(pcm, capped.audio, 16000) >= stoi(pcm, dtx.audio, 16000) - 0.02
