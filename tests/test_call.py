"""Real calls through a real server on loopback: aiortc data channels, real codecs, real speech."""
import asyncio

import numpy as np
import pytest
from pystoi import stoi

from client.call import FINAL_REPEAT_GAP_S, FINAL_REPEATS, Call
from client.recording import mix
from client.sources import WavSource
from codec.registry import get_codec
from codec.roundtrip import roundtrip
from codec.wavio import read_wav
from rtc.ice import IceSettings
from tests.utils import SENTENCES, best_lag, espeak_wav, metric_value, start_server

pytestmark = pytest.mark.network
LOOPBACK = IceSettings(host_addresses=("127.0.0.1",))


@pytest.fixture
async def server_url():
    _, runner, url = await start_server()
    yield url
    await runner.cleanup()


async def _call(url: str, name: str, codec_name: str, room: str = "test") -> Call:
    call = Call(url, room, name, get_codec(codec_name), LOOPBACK)
    await call.start()
    return call


@pytest.mark.parametrize("codec_name", ["codec2-700c", "opus-6k"])
async def test_two_peers_hear_what_the_offline_roundtrip_gives(server_url, speech_wav, codec_name):
    codec = get_codec(codec_name)
    a = await _call(server_url, "A", codec_name)
    b = await _call(server_url, "B", codec_name)
    try:
        await a.send(WavSource(speech_wav, codec))
        await asyncio.sleep(0.5)
    finally:
        await a.stop()
        await b.stop()
    assert a.received() == []
    [heard] = b.received()
    assert (heard.sender_id, heard.name) == (a.id, "A")
    assert heard.stats.packets_received == a.stats.sent.packets and heard.stats.packets_lost == 0
    # the jitter buffer drops a few (quiet) frames when it shrinks its delay, more on a busy machine
    assert heard.unplayed_frames() <= 0.05 * a.stats.sent.frames
    live = heard.aligned_audio()
    original = read_wav(speech_wav, 16000)
    offline = roundtrip(codec, original, 16000)
    frame_16k = codec.frame_samples * 16000 // codec.sample_rate
    assert abs(len(live) - len(original)) <= frame_16k
    lag = best_lag(offline, live, frame_16k)
    assert abs(lag) <= 2, "live audio is not time-aligned with the offline round trip"
    n = min(len(live), len(offline))
    assert stoi(offline[:n], live[:n], 16000) >= 0.9
    played = mix(b.received())  # the receiver's own timeline, jitter-buffer adjustments included
    # played runs on until stop(): 0.5 s after send() returned, which itself waits for the
    # final packet's repeats; playout advances in whole frames, so stop() may land one frame on
    assert abs(len(played) - len(live)) <= (0.5 + FINAL_REPEATS * FINAL_REPEAT_GAP_S) * 16000 + frame_16k
    lag = best_lag(offline, played, 4000)
    n = min(len(played) - max(0, lag), len(offline))
    assert stoi(offline[:n], played[max(0, lag):max(0, lag) + n], 16000) >= 0.7


async def test_three_peers_each_hear_the_other_two_apart(server_url, tmp_path):
    codec_name = "codec2-1200"
    codec = get_codec(codec_name)
    clips = {name: espeak_wav(tmp_path / f"{name}.wav", text, voice)
             for name, text, voice in [("A", SENTENCES[0], "en-us"), ("B", SENTENCES[1], "en-gb"),
                                       ("C", "Seven sailors sang softly by the sea.", "en-us+f3")]}
    calls = {name: await _call(server_url, name, codec_name, room="trio") for name in clips}
    try:
        await asyncio.gather(*(c.send(WavSource(clips[n], codec)) for n, c in calls.items()))
        await asyncio.sleep(0.5)
    finally:
        for c in calls.values():
            await c.stop()
    for name, call in calls.items():
        heard = {t.name: t for t in call.received()}
        assert sorted(heard) == sorted(set(clips) - {name})
        for other, track in heard.items():
            assert track.sender_id == calls[other].id
            offline = roundtrip(codec, read_wav(clips[other], 16000), 16000)
            live = track.aligned_audio()
            n = min(len(live), len(offline))
            assert stoi(offline[:n], live[:n], 16000) >= 0.9, f"{name} hearing {other}"


async def test_metrics_follow_the_call(speech_wav):
    server, runner, url = await start_server()
    try:
        a = await _call(url, "A", "codec2-3200", room="m")
        b = await _call(url, "B", "codec2-3200", room="m")
        assert server.rooms.participant_count == 2
        await a.send(WavSource(speech_wav, get_codec("codec2-3200")))
        await asyncio.sleep(0.3)
        await a.stop()
        await b.stop()
        await asyncio.sleep(0.2)
        text = (await asyncio.to_thread(_get, url + "metrics"))
        assert a.stats.sent.packets > 0
        assert metric_value(text, "focalcall_packets_relayed_total") == a.stats.sent.packets + a.stats.sent.repeats
        assert metric_value(text, "focalcall_bytes_relayed_total") == a.stats.sent.wire_bytes
        assert metric_value(text, "focalcall_participants") == 0
        assert metric_value(text, "focalcall_rooms") == 0
        # B's receiver reports reached the server (mouth-to-ear needs the codec delay it looked
        # up from the payload type) and were forwarded to A, the sender they describe
        assert metric_value(text, "focalcall_mouth_to_ear_seconds_count") > 0
        assert a.stats.reports_received > 0
    finally:
        await runner.cleanup()


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


async def test_a_decoder_is_loaded_off_the_event_loop_while_its_first_packets_wait(server_url, tmp_path,
                                                                                   monkeypatch):
    """A sender whose codec this listener has not built yet: the decoder is built in a worker
    thread (a neural model takes long enough to miss a heartbeat), the packets that arrive
    meanwhile are dropped and counted, and the stream is played from then on."""
    import client.call as call_module

    monkeypatch.setattr(call_module, "is_built", lambda name: False)
    a = await _call(server_url, "A", "codec2-1200", room="cold")
    b = await _call(server_url, "B", "codec2-3200", room="cold")
    try:
        await a.send(WavSource(espeak_wav(tmp_path / "a.wav", SENTENCES[0]), get_codec("codec2-1200")))
        await asyncio.sleep(0.3)
    finally:
        await a.stop()
        await b.stop()
    [heard] = b.received()
    dropped = b.stats.dropped["codec-loading"]
    assert 1 <= dropped <= 10
    assert heard.stats.packets_received == a.stats.sent.packets - dropped
