"""Firefox too: Debian's Firefox ESR (headless, Marionette, a private PulseAudio whose null sink
carries speech into its microphone) and a Chromium page in one call, each hearing the other;
and a page opened with ?autojoin=1 and no gesture asks for a click instead of hanging."""
from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from tests import firefox as fx
from tests.test_web import (_trained, b64_floats, browser, browser_needed, decode_codes, mic_wav,  # noqa: F401
                            open_page, piecewise_stoi, record, server, wait_connected, weights,
                            within_capture)

REASON = fx.unavailable_reason()
pytestmark = [pytest.mark.network, pytest.mark.slow, browser_needed,
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def pulse(tmp_path_factory, mic_wav):  # noqa: F811
    p = fx.Pulse(tmp_path_factory.mktemp("pulse")).start()
    p.play_loop(mic_wav)  # Firefox's microphone hears the same speech as Chromium's fake one
    yield p
    p.stop()


@pytest.fixture(scope="module")
def firefox(tmp_path_factory, pulse):
    with fx.firefox(tmp_path_factory.mktemp("firefox"), pulse) as session:
        yield session


def run(session, script: str, *args):
    """``script`` in the page itself (not Marionette's sandbox, which cannot see the page's globals)."""
    return session.execute_script(script, script_args=args, sandbox=None)


def run_async(session, expression: str):
    """The value of a promise-returning ``expression`` in the page."""
    return session.execute_async_script(
        f"const done = arguments[arguments.length - 1]; Promise.resolve({expression}).then(done, "
        "(e) => done({error: String(e)}));", sandbox=None)


def wait_for(session, expression: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = run(session, f"return {expression};")
        if value:
            return value
        time.sleep(0.2)
    state = run(session, "return [window.focalcall && window.focalcall.state, "
                         "document.getElementById('message').innerText];")
    raise AssertionError(f"timed out waiting for {expression} (state, message: {state})")


def open_firefox_page(session, url: str) -> None:
    session.navigate(url)
    run(session, "window.pageErrors = []; addEventListener('error', (e) => window.pageErrors.push(String(e.message)));"
                 "addEventListener('unhandledrejection', (e) => window.pageErrors.push(String(e.reason)));")


def test_firefox_autojoin_without_a_gesture_asks_for_a_click(firefox, server) -> None:  # noqa: F811
    from marionette_driver.by import By

    open_firefox_page(firefox, server.url + "?room=fxgesture&name=fox&autojoin=1&listen=1")
    wait_for(firefox, "window.focalcall && window.focalcall.state === 'needs-audio'")
    time.sleep(1.0)  # it stays there: nothing resolves without the click
    seen = run(firefox, "return [window.focalcall.state, document.getElementById('audio-prompt').hidden, "
                        "document.getElementById('enable-audio').textContent];")
    assert seen == ["needs-audio", False, "Click to enable audio"]
    firefox.find_element(By.ID, "enable-audio").click()  # a trusted click: the gesture
    wait_for(firefox, "window.focalcall.state === 'connected'")
    assert run(firefox, "return window.pageErrors.concat(window.focalcall.debug.errors);") == []


def test_firefox_without_the_loopback_prefs_says_why_instead_of_looping(firefox, server) -> None:  # noqa: F811
    """With Firefox's default ICE settings a loopback server is out of reach (mDNS host names, no
    loopback candidates): the page gives up after its retries and says the media connection could
    not be set up, never a message with an empty reason."""
    from marionette_driver.by import By

    with firefox.using_prefs({"media.peerconnection.ice.obfuscate_host_addresses": True,
                              "media.peerconnection.ice.loopback": False}):
        open_firefox_page(firefox, server.url + "?room=fxice&name=fox&autojoin=1&listen=1&retries=2")
        wait_for(firefox, "window.focalcall && window.focalcall.state === 'needs-audio'")
        firefox.find_element(By.ID, "enable-audio").click()
        wait_for(firefox, "window.focalcall.state === 'failed'", timeout=90)
        text = run(firefox, "return document.getElementById('message-text').textContent;")
    assert "audio connection to the server could not be set up" in text, text
    assert "()" not in text


def test_firefox_and_chromium_pages_hear_each_other(firefox, browser, server, weights, mic_wav) -> None:  # noqa: F811
    """Both pages talk (the same speech: Chromium's fake microphone, PulseAudio into Firefox).
    Each decodes exactly the codes the other encoded, plays what it decoded, and what it plays
    is the speech the other page captured."""
    from codec.neural.runtime import FocalCodec, NeuralModel
    from codec.resample import resample
    from codec.roundtrip import roundtrip
    from codec.wavio import read_wav

    chromium = open_page(browser, server.url, "?room=fx&name=chromium&autojoin=1&processing=off")
    wait_connected(chromium)
    open_firefox_page(firefox, server.url + "?room=fx&name=firefox&autojoin=1&processing=off")
    wait_for(firefox, "window.focalcall && window.focalcall.state === 'connected'", timeout=60)
    fox_id, chrome_id = run(firefox, "return window.focalcall.id;"), chromium.evaluate("window.focalcall.id")
    frames = "(s, id) => s && s.receivers[id] ? s.receivers[id].framesPlayed : 0"
    chromium.wait_for_function(f"({frames})(window.focalcall.debug.stats, {fox_id}) >= 100", timeout=30000)
    wait_for(firefox, f"({frames})(window.focalcall.debug.stats, {chrome_id}) >= 100")
    assert run(firefox, f"return document.querySelector('#tiles li[data-id=\"{chrome_id}\"]') !== null;")

    run_async(firefox, "window.focalcall.startRecording()")
    played_by_chromium = record(chromium, 6.0)
    fox_tap = run_async(firefox, "window.focalcall.stopRecording()")
    played_by_firefox = resample(b64_floats(fox_tap["played"]).astype(np.float32),
                                 run(firefox, "return window.focalcall.sampleRate;"), 16000)
    marks = {"firefox": run_async(firefox, "window.focalcall.marks()"), "chromium": chromium.evaluate(
        "window.focalcall.marks()")}
    errors = run(firefox, "return window.pageErrors.concat(window.focalcall.debug.errors);") + chromium.errors
    chromium.context.close()

    results = {}
    for listener, talker, talker_id, played in (("firefox", "chromium", chrome_id, played_by_firefox),
                                                ("chromium", "firefox", fox_id, played_by_chromium)):
        log = marks[listener]["decoded"][str(talker_id)]
        received = [(ts, bytes(code)) for ts, code in log if code is not None]
        # The two pages' logs are read one after the other: the listener read later may have
        # decoded frames captured after the talker's log was read.
        sent, window = within_capture(marks[talker]["capture"], received)
        assert len(window) >= 150, f"{listener} decoded {len(window)} frames of {talker}'s"
        assert all(sent.get(ts) == code for ts, code in window), f"{listener} decoded other codes than {talker} sent"
        decoded = decode_codes(weights, [None if code is None else bytes(code) for _, code in log])
        results[listener] = (piecewise_stoi(decoded, played), played)
    clip = read_wav(mic_wav, 16000)
    reference = roundtrip(FocalCodec("focal-800", NeuralModel(weights)), np.tile(clip, 3), 16000)
    speech = {name: piecewise_stoi(reference, played) for name, (_, played) in results.items()}
    print(f"\nFirefox <-> Chromium: STOI of each playout vs decode of what it decoded "
          f"{ {k: round(v[0], 3) for k, v in results.items()} }, vs the spoken clip "
          f"{ {k: round(v, 3) for k, v in speech.items()} }")
    for name, (plumbing, _) in results.items():
        assert plumbing >= 0.8, f"{name} did not play what it decoded: STOI {plumbing:.3f}"
    if _trained(weights):  # speech goes both ways (reversed or noise scores 0.2-0.35)
        assert min(speech.values()) >= 0.65, speech
    assert errors == []
    assert base64.b64decode(fox_tap["captured"])  # Firefox's capture tap saw the microphone
