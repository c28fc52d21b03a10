"""rtc/delayed_sack.py: the aiortc internals it relies on, and SACKs counted on a real connection."""
from __future__ import annotations

import asyncio
import inspect

import pytest
from aiortc import RTCPeerConnection, rtcpeerconnection
from aiortc.rtcsctptransport import RTCSctpTransport, SackChunk

from rtc.ice import IceSettings
from rtc.delayed_sack import OVERRIDDEN, STATE_USED, DelayedSackTransport, delayed_sack_in_use, use_delayed_sack

# The signatures this module was written against (aiortc 1.16). If an upgrade changes any of
# them, read rtc/delayed_sack.py against the new rtcsctptransport.py before updating these.
PINNED = {
    "_send_sack": "(self) -> None",
    "_receive_data_chunk": "(self, chunk: aiortc.rtcsctptransport.DataChunk) -> None",
    "_receive_forward_tsn_chunk": "(self, chunk: aiortc.rtcsctptransport.ForwardTsnChunk) -> None",
    "_set_state": "(self, state: 'RTCSctpTransport.State') -> None",
}
MESSAGES = 60


@pytest.fixture(autouse=True)
def restore_transport():
    before = rtcpeerconnection.RTCSctpTransport
    yield
    rtcpeerconnection.RTCSctpTransport = before


def test_overridden_methods_keep_their_signatures() -> None:
    assert set(PINNED) == set(OVERRIDDEN)
    for name in OVERRIDDEN:
        method = getattr(RTCSctpTransport, name)
        assert inspect.iscoroutinefunction(method) == (name != "_set_state"), name
        assert str(inspect.signature(method)).replace("'", "") == PINNED[name].replace("'", ""), name


def test_aiortc_calls_and_keeps_what_the_override_uses() -> None:
    source = inspect.getsource(RTCSctpTransport)
    handle_data = inspect.getsource(RTCSctpTransport._handle_data)
    # after each packet, aiortc asks for a SACK only when one is needed: the hook we delay
    assert "if self._sack_needed:" in handle_data and "await self._send_sack()" in handle_data
    assert "self._receive_data_chunk(" in source and "self._receive_forward_tsn_chunk(" in source
    for name in STATE_USED:
        assert f"self.{name}" in source, name
    # RTCPeerConnection builds its SCTP transport through the module-level name we replace
    assert "RTCSctpTransport(dtlsTransport)" in inspect.getsource(rtcpeerconnection.RTCPeerConnection)


def test_switch_is_process_wide_and_reversible() -> None:
    use_delayed_sack(True)
    assert delayed_sack_in_use() and rtcpeerconnection.RTCSctpTransport is DelayedSackTransport
    use_delayed_sack(False)
    assert not delayed_sack_in_use() and rtcpeerconnection.RTCSctpTransport is RTCSctpTransport
    IceSettings(host_addresses=("127.0.0.1",)).apply()
    assert delayed_sack_in_use()
    IceSettings(host_addresses=("127.0.0.1",), delayed_sack=False).apply()
    assert not delayed_sack_in_use()


async def _sacks_for(delayed: bool, messages: int = MESSAGES, interval: float = 0.01) -> tuple[int, int, object]:
    """Send ``messages`` unordered, unreliable messages from one real peer connection to
    another over loopback; return (messages received, SACK chunks the receiver sent, its transport)."""
    IceSettings(host_addresses=("127.0.0.1",), delayed_sack=delayed).apply()
    config = IceSettings().rtc_configuration()
    a, b = RTCPeerConnection(config), RTCPeerConnection(config)
    received: list[bytes] = []
    opened = asyncio.Event()
    channel = a.createDataChannel("audio", ordered=False, maxRetransmits=0)
    channel.on("open", opened.set)
    b.on("datachannel", lambda ch: ch.on("message", received.append))
    try:
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.wait_for(opened.wait(), 10)
        await asyncio.sleep(0.3)  # the channel-open handshake's SACKs are done
        sctp = b.sctp
        assert isinstance(sctp, DelayedSackTransport) == delayed
        sacks = 0
        if delayed:
            sctp.sacks_sent = sctp.sacks_delayed = 0
        send_chunk = sctp._send_chunk

        async def counting(chunk):
            nonlocal sacks
            sacks += isinstance(chunk, SackChunk)
            await send_chunk(chunk)

        sctp._send_chunk = counting
        for i in range(messages):
            channel.send(bytes([i % 256]) * 30)
            await asyncio.sleep(interval)
        await asyncio.sleep(0.5)  # the last one's delayed SACK
        return len(received), sacks, sctp
    finally:
        await a.close()
        await b.close()


async def test_every_second_packet_is_acknowledged() -> None:
    received, sacks, sctp = await _sacks_for(delayed=True)
    assert received == MESSAGES
    assert MESSAGES // 2 <= sacks <= MESSAGES // 2 + 2, sacks
    assert sctp.sacks_sent == sacks


async def test_aiortc_alone_acknowledges_every_packet() -> None:
    received, sacks, _ = await _sacks_for(delayed=False)
    assert received == MESSAGES
    assert sacks >= MESSAGES


async def test_a_lone_packet_is_acknowledged_after_the_delay() -> None:
    received, sacks, sctp = await _sacks_for(delayed=True, messages=3, interval=0.3)
    assert received == 3
    assert sacks == 3 and sctp.sacks_delayed == 3


async def test_gap_is_acknowledged_at_once() -> None:
    """A DATA packet beyond a gap (TSN skipped) is acknowledged immediately, with the gap."""
    use_delayed_sack(True)
    sent: list[SackChunk] = []

    class Probe(DelayedSackTransport):
        async def _send_chunk(self, chunk) -> None:
            sent.append(chunk)

    sctp = Probe.__new__(Probe)  # no DTLS transport under it: only the SACK state is set up
    sctp._sack_held, sctp._sack_data_seen, sctp._sack_now = 0, False, False
    sctp._sack_reported_gaps, sctp._sack_timer, sctp.sacks_sent, sctp.sacks_delayed = False, None, 0, 0
    sctp._association_state = RTCSctpTransport.State.ESTABLISHED
    sctp._last_received_tsn, sctp._sack_misordered, sctp._sack_duplicates = 100, set(), []
    sctp._advertised_rwnd, sctp._sack_needed = 1 << 20, True
    sctp._sack_data_seen = True
    sctp._mark_received(101)
    await sctp._send_sack()
    assert sent == []  # in order: held
    sctp._sack_data_seen, sctp._sack_needed = True, True
    sctp._mark_received(103)  # 102 missing
    await sctp._send_sack()
    assert len(sent) == 1 and sent[0].gaps == [(2, 2)]
    sctp._sack_data_seen, sctp._sack_needed = True, True
    sctp._mark_received(102)  # the gap fills: the next SACK goes at once too
    await sctp._send_sack()
    assert len(sent) == 2 and sent[1].cumulative_tsn == 103 and sent[1].gaps == []
    sctp._cancel_sack_timer()
