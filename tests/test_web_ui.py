"""The call page as people use it, in real headless Chromium against a real server on loopback:
invite links, who is speaking, microphone level and mute, connection quality under real loss
(iptables in a network namespace), the states and their messages, keyboard-only use, and a
layout without overlapping or clipped controls on a phone and a desktop screen."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.test_web import (CHROMIUM, FLAGS, ServerThread, browser_needed, mic_wav, open_page,  # noqa: F401
                            wait_connected, weights)

pytestmark = [pytest.mark.network, browser_needed]


@pytest.fixture(scope="module")
def playwright():
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright, mic_wav: Path):  # noqa: F811
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                   args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}"])
    yield b
    b.close()


@pytest.fixture(scope="module")
def server(weights: Path):  # noqa: F811
    s = ServerThread(weights)
    s.start()
    yield s
    s.close()


def sample(page, expression: str, seconds: float, every: float = 0.1) -> list:
    """Values of ``expression`` in ``page`` every ``every`` s for ``seconds``."""
    values = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        values.append(page.evaluate(expression))
        time.sleep(every)
    return values


def tile(page, pid: int, attribute: str) -> str:
    return f"document.querySelector('#tiles li[data-id=\"{pid}\"]')?.dataset.{attribute}"


def test_invite_link_opens_the_room_and_asks_only_for_a_name(browser, server) -> None:
    """The link carries the room in the query and the token and key only in the fragment; the
    invitee's page hides the room field, asks for a name and joins the same call with the token."""
    host = browser.new_context(permissions=["microphone", "clipboard-read", "clipboard-write"])
    a = host.new_page()
    key = "0:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # the page seals with it: a real room key
    a.goto(server.url + f"?room=invited&name=ann&autojoin=1&listen=1&token=tok.en-1#key={key}")
    wait_connected(a)
    assert "token" not in a.evaluate("location.search")  # moved out of the query at load
    a.click("#invite")
    link = a.evaluate("navigator.clipboard.readText()")
    assert link == f"{server.url}?room=invited#token=tok.en-1&key={key.replace(':', '%3A')}"
    assert a.input_value("#invite-url") == link
    assert "copied" in a.inner_text("#announce")

    guest = browser.new_context(permissions=["microphone"])
    b = guest.new_page()
    sent = []
    b.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    b.goto(link)
    b.wait_for_function("window.focalcall && window.focalcall.state === 'idle'", timeout=30000)
    assert b.is_hidden("#room-field") and b.is_visible("#invited")
    assert "invited" in b.inner_text("#invited")
    assert b.evaluate("document.activeElement.id") == "name"
    b.keyboard.type("bo")
    b.keyboard.press("Enter")
    wait_connected(b)
    assert any('"join"' in m and '"token": "tok.en-1"' in m.replace('":"', '": "') for m in sent), sent
    assert all(key.split(":")[1] not in m for m in sent)  # the room key never goes to the server
    a.wait_for_function("document.querySelectorAll('#tiles li').length === 2", timeout=10000)
    assert "bo" in a.inner_text("#tiles")
    assert b.evaluate("location.href") == link  # the invitee's address is the same invite
    # Both pages hold the key: Bo's sealed packets open on Ann's page.
    a.wait_for_function("Object.keys(window.focalcall.debug.stats?.receivers || {}).length > 0", timeout=20000)
    e2ee = a.evaluate("window.focalcall.debug.stats.e2ee")
    assert e2ee["enabled"] and not e2ee["dropped"], e2ee
    assert "end-to-end encrypted" in a.inner_text("#room-name")
    # "Join another call" drops the invite's key with its room and token: that call is not sealed.
    a.click("#leave")
    a.click("#home")
    a.fill("#room", "plain")
    a.click("#join")
    wait_connected(a)
    a.wait_for_function("window.focalcall.debug.stats?.e2ee.enabled === false", timeout=5000)
    assert a.inner_text("#room-name") == "plain" and a.evaluate("location.hash") == ""
    host.close()
    guest.close()


def test_an_invite_with_a_broken_room_key_says_so_and_does_not_join(browser, server) -> None:
    """A key that is not a room key stops the join with the reason: no call in plain audio."""
    sent = []
    page = browser.new_context(permissions=["microphone"]).new_page()
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.goto(server.url + "?room=broken&name=kit&autojoin=1&listen=1#key=k3y_9")
    page.wait_for_selector("#message", state="visible", timeout=30000)
    assert "room key is not usable" in page.inner_text("#message")
    assert page.evaluate("window.focalcall.state") == "idle" and sent == []
    page.context.close()


def test_speaking_indicator_mic_level_and_mute(browser, server, mic_wav) -> None:  # noqa: F811
    """The talker lights up on both pages, the silent listener on neither; the talker's own
    meter follows the fake microphone (a second of silence, then speech, looped) and shows
    nothing once muted with the keyboard, and the listener's tile for it goes quiet."""
    b = open_page(browser, server.url, "?room=speak&name=bo&autojoin=1&listen=1")
    wait_connected(b)
    a = open_page(browser, server.url, "?room=speak&name=ann&autojoin=1&processing=off")
    wait_connected(a)
    ann, bo = a.evaluate("window.focalcall.id"), b.evaluate("window.focalcall.id")
    b.wait_for_function(f"{tile(b, ann, 'speaking')} === 'true'", timeout=20000)
    import soundfile

    loop_s = soundfile.info(str(mic_wav)).duration  # the fake microphone plays the file in a loop
    a_self = sample(a, f"[{tile(a, ann, 'speaking')}, document.querySelector('#tiles li.self meter').value]",
                    loop_s + 0.5)
    b_view = sample(b, f"[{tile(b, ann, 'speaking')}, {tile(b, bo, 'speaking')}]", 2.0)
    assert any(s == "true" for s, _ in a_self) and any(s == "true" for s, _ in b_view)
    levels = [v for _, v in a_self]
    assert max(levels) > 0.5 and min(levels) < 0.1  # speech, and the file's second of silence
    assert all(s == "false" for _, s in b_view)  # the listener never lights up
    assert a.evaluate(f"{tile(a, bo, 'speaking')}") == "false"

    a.focus("body")
    a.keyboard.press("m")
    assert a.get_attribute("#mute", "aria-pressed") == "true"
    muted = sample(a, "[document.querySelector('#tiles li.self meter').value, "
                      "document.querySelector('#tiles li.self .peer-state').textContent]", 1.5)
    assert all(v == 0 and words == "muted" for v, words in muted)
    a.wait_for_selector("#muted-hint", state="visible", timeout=10000)  # talking while muted: told so
    b.wait_for_function(f"{tile(b, ann, 'speaking')} === 'false'", timeout=5000)
    assert all(s == "false" for s in sample(b, tile(b, ann, "speaking"), 2.0))
    a.keyboard.press("m")
    assert a.get_attribute("#mute", "aria-pressed") == "false"
    b.wait_for_function(f"{tile(b, ann, 'speaking')} === 'true'", timeout=10000)
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


def test_keyboard_only_join_mute_and_leave(browser, server) -> None:
    page = open_page(browser, server.url, "")
    page.wait_for_function("window.focalcall && window.focalcall.state === 'idle'", timeout=30000)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "room"
    page.keyboard.type("keys")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # listen only
    page.keyboard.press("Space")  # and back
    page.keyboard.press("Enter")  # submits the form
    wait_connected(page)
    page.keyboard.press("m")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    assert "muted" in page.inner_text("#announce").lower()
    page.focus("#mute")
    page.keyboard.press("Enter")
    assert page.get_attribute("#mute", "aria-pressed") == "false"
    for _ in range(3):  # Mute → Copy invite link → Leave
        if page.evaluate("document.activeElement.id") == "leave":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "leave"
    page.keyboard.press("Enter")
    page.wait_for_function("window.focalcall.state === 'left'")
    assert page.evaluate("document.activeElement.id") == "rejoin"  # focus lands on the next step
    page.keyboard.press("Enter")
    wait_connected(page)
    # Push-to-talk: on, the microphone is closed until Space is held.
    page.focus("#settings summary")
    page.keyboard.press("Enter")
    page.focus("#ptt")
    page.keyboard.press("Space")
    assert page.is_checked("#ptt") and page.get_attribute("#mute", "aria-pressed") == "true"
    page.evaluate("document.activeElement.blur()")  # Space on a focused control presses it instead
    page.keyboard.down("Space")
    assert page.get_attribute("#mute", "aria-pressed") == "false"
    page.keyboard.up("Space")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    page.focus("#leave")
    page.keyboard.press("Space")
    page.wait_for_function("window.focalcall.state === 'left'")
    assert page.errors == []
    page.context.close()


def test_speaker_choice_from_the_keyboard_routes_the_call_and_is_remembered(browser, server) -> None:
    """Chromium can route an AudioContext: the settings list its output devices, the choice
    moves the call's audio there and is kept for the next call."""
    page = open_page(browser, server.url, "?room=speaker&name=sid&autojoin=1")
    wait_connected(page)
    assert page.evaluate("window.focalcall.sinkId") == ""
    page.focus("#settings summary")
    page.keyboard.press("Enter")  # opens the settings
    assert page.is_visible("#speaker")
    options = page.eval_on_selector_all("#speaker option", "(os) => os.map((o) => [o.value, o.textContent])")
    assert options[0] == ["", "System default"] and len(options) >= 2, options
    page.focus("#speaker")
    page.keyboard.press("ArrowDown")  # the first real device
    page.wait_for_function(f"window.focalcall.sinkId === {options[1][0]!r}")
    page.click("#leave")
    page.click("#rejoin")
    wait_connected(page)
    page.wait_for_function(f"window.focalcall.sinkId === {options[1][0]!r}")
    assert page.input_value("#speaker") == options[1][0]
    assert page.errors == []
    page.context.close()


def test_states_and_their_messages(browser, weights) -> None:  # noqa: F811
    """A full room, an unreachable server and a page that gives up say so in words."""
    from server.config import Limits

    s = ServerThread(weights, limits=Limits(max_participants=2))
    try:
        s.start()
        first = [open_page(browser, s.url, f"?room=full&name=p{i}&autojoin=1&listen=1") for i in range(2)]
        for page in first:
            wait_connected(page)
        third = open_page(browser, s.url, "?room=full&name=late&autojoin=1&listen=1")
        third.wait_for_function("window.focalcall.state === 'failed'", timeout=20000)
        assert 'The call "full" is full' in third.inner_text("#message")
        assert third.is_visible("#join-panel") and third.inner_text("#join") == "Try again"
        for page in [*first, third]:
            page.context.close()

        page = open_page(browser, s.url, "?room=gone&name=solo&retries=1")
        page.wait_for_function("window.focalcall.state === 'idle'", timeout=30000)
        s.stop()
        page.click("#join")
        page.wait_for_function("window.focalcall.state === 'reconnecting'", timeout=10000)
        page.wait_for_function("window.focalcall.state === 'failed'", timeout=20000)
        text = page.inner_text("#message")
        assert "Cannot reach the focalcall server" in text and s.url.split("//")[1].rstrip("/") in text
        assert "()" not in text
        page.context.close()
    finally:
        s.close()


def test_autojoin_without_a_gesture_asks_for_a_click(playwright, server) -> None:
    """Under the default autoplay policy an AudioContext waits for a gesture: the page says
    "click to enable audio" instead of hanging, and the click joins the call."""
    flags = [f for f in FLAGS if not f.startswith("--autoplay-policy")]
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                   args=[*flags, "--autoplay-policy=document-user-activation-required"])
    try:
        page = b.new_context().new_page()
        # Playwright's own evaluate() runs as a user gesture: read the page through CDP instead.
        cdp = page.context.new_cdp_session(page)

        def read(expression: str):
            return cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"]["value"]

        page.goto(server.url + "?room=gesture&name=gus&autojoin=1&listen=1")
        deadline = time.monotonic() + 30
        while read("window.focalcall?.state ?? 'loading'") != "needs-audio" and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = read("[window.focalcall.state, navigator.userActivation.hasBeenActive, document.activeElement.id, "
                    "document.getElementById('audio-prompt').hidden, document.getElementById('join-panel').hidden]")
        assert seen == ["needs-audio", False, "enable-audio", False, True]
        page.click("#enable-audio")  # a real (trusted) click
        wait_connected(page)
    finally:
        b.close()


def test_layout_on_a_phone_and_a_desktop_has_no_overlapping_or_clipped_controls(browser, server, tmp_path) -> None:
    """Three people in a call, one talking: at 390x844 and at 1280x800 no control leaves the
    screen, overlaps another or clips its text, on the join form and in the call."""
    from tests.web_layout import VIEWPORTS, call_screens

    shots = call_screens(browser, server.url, tmp_path)
    for name, (page_problems, path) in shots.items():
        assert path.stat().st_size > 10000, name
        assert page_problems == [], f"{name}: {page_problems}"
    assert set(shots) == {f"{screen}-{size}" for screen in ("join", "call") for size in VIEWPORTS}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_quality_turns_poor_under_real_loss_on_the_pages_path(playwright, weights, mic_wav,  # noqa: F811
                                                              tmp_path) -> None:
    """Chromium runs in a network namespace; iptables drops 60 % of the UDP arriving there.
    The listener's tile for the talker, good before, turns poor; so does the talker's own
    indicator, from the listener's reports about it."""
    from rtc.ice import IceSettings
    from impair.netns import VethNamespace, add_loss_rule, clear_rules, unavailable_reason
    from server.config import ServerConfig

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    subnet = 16 + (os.getpid() + 97) % 200
    host_ip, ns_ip = f"10.232.{subnet}.1", f"10.232.{subnet}.2"
    with VethNamespace(f"fcui{os.getpid() % 100000}", host_ip, ns_ip) as ns:
        wrapper = tmp_path / "chromium-in-ns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns.name} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        s = ServerThread(weights, host=host_ip,
                         config=ServerConfig(host=host_ip, port=0, ice=IceSettings(host_addresses=(host_ip,)),
                                             open_rooms=True))
        s.start()
        try:
            b = playwright.chromium.launch(executable_path=str(wrapper), headless=True,
                                           args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}",
                                                 f"--unsafely-treat-insecure-origin-as-secure={s.url.rstrip('/')}"])
            listener = open_page(b, s.url, "?room=lossy&name=bo&autojoin=1&listen=1")
            wait_connected(listener, timeout=60)  # a fresh browser: the first page compiles the codec
            talker = open_page(b, s.url, "?room=lossy&name=ann&autojoin=1&processing=off")
            wait_connected(talker, timeout=60)
            ann = talker.evaluate("window.focalcall.id")
            listener.wait_for_function(f"{tile(listener, ann, 'quality')} === 'good'", timeout=20000)
            add_loss_rule(ns.name, "INPUT", 0.6)
            # the tip is read in the same moment as the verdict: under 60 % loss the tile may
            # swing between poor and fair from one report to the next
            poor_tip = listener.wait_for_function(
                f"{tile(listener, ann, 'quality')} === 'poor' && "
                f"document.getElementById('quality-tip-{ann}').textContent", timeout=20000)
            tip = poor_tip.json_value()
            talker.wait_for_function(f"{tile(talker, ann, 'quality')} === 'poor'", timeout=20000)
            assert "poor" in tip and "lost on the way" in tip
            listener.focus(f"#tiles li[data-id='{ann}'] .quality")
            assert listener.is_visible(f"#quality-tip-{ann}")  # the figures show on focus
            plotted = listener.evaluate("document.getElementById('graph-loss').getAttribute('aria-label')")
            assert "before recovery" in plotted
            b.close()
        finally:
            clear_rules(ns.name)
            s.close()
