// The per-call "Connection" panel: live plots of the bitrate on the wire (sent, received) and
// of packet loss before and after recovery, and the figures behind them. Fed once a second
// with the peer connection's wire counters and the codec worker's per-sender counters.

import { Sparkline } from "./graph.js";

const $ = (id) => document.getElementById(id);

function sum(list, key) {
  return list.reduce((n, r) => n + (r[key] ?? 0), 0);
}

// How the page packs what it sends (packetsize.js): frames and redundant frames a packet, the cap.
export function packing({ framesPerPacket, redundancy, capBps }) {
  if (framesPerPacket === null || framesPerPacket === undefined) return "";
  const cap = capBps === null || capBps === undefined ? "" : `, under a cap of ${(capBps / 1000).toFixed(1)} kbit/s`;
  return `, ${framesPerPacket} frames and ${redundancy} redundant a packet${cap}`;
}

export class ConnectionPanel {
  constructor() {
    this.bitrate = new Sparkline($("graph-bitrate"), { title: "Bitrate on the wire", unit: "kbit/s", floor: 10,
      series: [{ label: "sent", color: "#1f6feb" }, { label: "received", color: "#2da44e" }] });
    this.loss = new Sparkline($("graph-loss"), { title: "Packet loss", unit: "%", floor: 5,
      series: [{ label: "before recovery", color: "#d29922" }, { label: "after recovery", color: "#cf222e" }] });
    this.previous = null; // the receivers' summed counters at the last sample
  }

  /** A new call (or a rejoin): forget the counters of the previous streams. */
  reset() {
    this.previous = null;
  }

  /** `wire`: WireStats.sample(); `stats`: the codec worker's latest statistics. */
  sample(wire, stats) {
    const receivers = Object.values(stats?.receivers || {});
    const now = { expected: sum(receivers, "packetsExpected"), received: sum(receivers, "packetsReceived"),
      played: sum(receivers, "framesPlayed"), concealed: sum(receivers, "framesConcealed"),
      underruns: sum(receivers, "underruns") };
    let before = null;
    let after = null;
    const prev = this.previous;
    if (prev && now.played >= prev.played && now.expected >= prev.expected) {
      const expected = now.expected - prev.expected;
      const played = now.played - prev.played;
      if (expected > 0) before = (100 * Math.max(0, expected - (now.received - prev.received))) / expected;
      const lost = (now.concealed - prev.concealed) - (now.underruns - prev.underruns);
      if (played > 0) after = (100 * Math.max(0, lost)) / played;
    }
    this.previous = now;
    this.bitrate.push([wire.sendKbps, wire.receiveKbps]);
    this.loss.push([before, after]);
    const kbps = (v) => (v === null ? "–" : `${v.toFixed(1)} kbit/s`);
    $("stat-bitrate").textContent = `${kbps(wire.sendKbps)} on the wire`
      + (stats ? ` (codec ${stats.payloadKbps.toFixed(2)} kbit/s${packing(stats)})` : "");
    $("stat-receive").textContent = `${kbps(wire.receiveKbps)} on the wire`;
    $("stat-rtt").textContent = wire.rttMs === null ? "–" : `${wire.rttMs.toFixed(0)} ms`;
    this.showReceivers(receivers);
    const e = stats?.encodeMs;
    const d = stats?.decodeMs;
    const ms = (s) => (s ? s.mean.toFixed(1) : "–");
    $("stat-codec").textContent = `encode ${ms(e)} ms, decode ${ms(d)} ms`;
  }

  showReceivers(receivers) {
    if (!receivers.length) {
      $("stat-loss").textContent = "– (nobody is talking yet)";
      $("stat-delay").textContent = "–";
      return;
    }
    const played = sum(receivers, "framesPlayed");
    const concealed = sum(receivers, "framesConcealed");
    const lost = sum(receivers, "packetsLost");
    const expected = sum(receivers, "packetsExpected");
    $("stat-loss").textContent = `${(100 * (played ? concealed / played : 0)).toFixed(1)} % of frames concealed `
      + `(${(100 * (expected ? lost / expected : 0)).toFixed(1)} % of packets lost before recovery) since joining`;
    const delay = Math.max(...receivers.map((r) => r.bufferDelayMs));
    const target = Math.max(...receivers.map((r) => r.targetDelayMs));
    const jitter = Math.max(...receivers.map((r) => r.jitterMs));
    $("stat-delay").textContent = `${delay.toFixed(0)} ms (target ${target.toFixed(0)} ms, `
      + `jitter ${jitter.toFixed(1)} ms)`;
  }
}
