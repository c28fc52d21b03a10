// Replays sender scenarios through the page's packetizer and packet sizer (web/js/), for
// tests/test_packetsize_parity.py, which runs the same scenarios through transport/.
// stdin: {cases: [{config, packetizer, frameBytes, steps: [{frames: [[hex, quiet, speech, level]],
//   report: hex, receivers}]}]}; stdout: per case, per step {packets: [hex], size: [n, r], cap}.

import { readFileSync } from "node:fs";

import { parseReport } from "../../web/js/packet.js";
import { Packetizer } from "../../web/js/packetizer.js";
import { PacketSizer, followReport, sizeConfig } from "../../web/js/packetsize.js";

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) || [], (b) => parseInt(b, 16));
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function replay({ config, packetizer: options, frameBytes, steps }) {
  const sizer = new PacketSizer(sizeConfig(config));
  const packetizer = new Packetizer(options);
  [packetizer.framesPerPacket, packetizer.redundancy] = sizer.plan(frameBytes, packetizer.redundancy);
  return steps.map(({ frames, report, receivers }) => {
    const packets = [];
    for (const [hex, quiet, speech, level] of frames) packets.push(...packetizer.push(fromHex(hex), quiet, speech, level));
    const size = followReport(sizer, packetizer, parseReport(fromHex(report)), receivers, frameBytes);
    return { packets: packets.map(toHex), size, cap: sizer.capBps };
  });
}

const { cases } = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map(replay)));
