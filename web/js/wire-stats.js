// What the peer connection really puts on the wire: bytes sent and received on the selected
// ICE candidate pair (UDP payloads: DTLS, SCTP and every header included, SACKs and keep-alives
// too) and its round-trip time, from RTCPeerConnection.getStats(). Chromium names the pair
// through the transport's selectedCandidatePairId; Firefox marks it `selected`.

export class WireStats {
  constructor() {
    this.last = null; // {at, sent, received}
  }

  /** {sendKbps, receiveKbps, rttMs} since the previous call (null figures on the first call or
   *  when the browser has no selected pair yet). */
  async sample(pc) {
    const pair = selectedPair(await pc.getStats());
    if (!pair) return { sendKbps: null, receiveKbps: null, rttMs: null };
    const now = { at: performance.now(), sent: pair.bytesSent ?? 0, received: pair.bytesReceived ?? 0 };
    const rttMs = Number.isFinite(pair.currentRoundTripTime) ? 1000 * pair.currentRoundTripTime : null;
    const prev = this.last;
    this.last = now;
    if (!prev || now.at <= prev.at || now.sent < prev.sent || now.received < prev.received) {
      return { sendKbps: null, receiveKbps: null, rttMs };
    }
    const seconds = (now.at - prev.at) / 1000;
    return { sendKbps: (8 * (now.sent - prev.sent)) / seconds / 1000,
      receiveKbps: (8 * (now.received - prev.received)) / seconds / 1000, rttMs };
  }

  reset() {
    this.last = null;
  }
}

export function selectedPair(report) {
  let byTransport = null;
  let flagged = null;
  for (const s of report.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) byTransport = report.get(s.selectedCandidatePairId);
    if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) flagged ??= s;
  }
  return byTransport || flagged;
}
