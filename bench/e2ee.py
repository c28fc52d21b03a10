"""End-to-end encryption's cost: bytes on the wire per packet configuration, and the CPU time to
seal and open a packet (Python, `cryptography`'s AES-GCM). ``--write`` puts the table into
BENCHMARKS.md under :data:`HEADING`."""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.mdsection import update_section  # noqa: E402
from transport.e2ee import Keyring, Opener, Sealer, format_key, new_key  # noqa: E402
from transport.packetizer import Packetizer, PacketizerConfig  # noqa: E402
from transport.wire import wire_bytes  # noqa: E402

HEADING = "## End-to-end encryption (bench/e2ee.py)"
# (label, frame bytes, frames per packet, redundant frames, frame period ms)
CONFIGS = [
    ("neural 2-byte frames, 2/packet, R=8 (default)", 2, 2, 8, 20),
    ("neural 1-byte frames (focal-400), 2/packet, R=8", 1, 2, 8, 20),
    ("neural 2-byte frames, 4/packet, R=8", 2, 4, 8, 20),
    ("Codec2 3200 (8-byte frames), 2/packet, R=4", 8, 2, 4, 20),
    ("Opus 16k (40-byte frames), 2/packet, R=1", 40, 2, 1, 20),
]


def packets_for(frame: int, per_packet: int, redundancy: int, count: int = 64) -> list[bytes]:
    p = Packetizer(PacketizerConfig(payload_type=1, sender=3, frames_per_packet=per_packet, redundancy=redundancy))
    return [q for _ in range(count) for q in p.push(os.urandom(frame))][-count // per_packet:]


def timing(packet: bytes, repeats: int) -> tuple[float, float]:
    """Microseconds to seal and to open one packet."""
    ring = Keyring.parse(format_key(new_key()))
    sealer, opener = Sealer(ring), Opener(ring)
    plain = [packet[:2] + (i % 65536).to_bytes(2, "big") + packet[4:] for i in range(repeats)]
    t0 = time.perf_counter()
    sealed = [sealer.seal(p) for p in plain]
    t1 = time.perf_counter()
    for s in sealed:
        opener.open(s)
    t2 = time.perf_counter()
    return 1e6 * (t1 - t0) / repeats, 1e6 * (t2 - t1) / repeats


def markdown(repeats: int, command: str) -> str:
    rows = ["| configuration | packet | sealed | IP packet | on the wire | with E2EE | seal / open (us) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    ring = Keyring.parse(format_key(new_key()))
    for label, frame, per_packet, redundancy, frame_ms in CONFIGS:
        plain = packets_for(frame, per_packet, redundancy)[-1]
        sealed = Sealer(ring).seal(plain)
        rate = 1000 / (frame_ms * per_packet)
        seal_us, open_us = timing(plain, repeats)
        rows.append(f"| {label} | {len(plain)} B | {len(sealed)} B | {wire_bytes(len(plain))} → "
                    f"{wire_bytes(len(sealed))} B | {8 * wire_bytes(len(plain)) * rate / 1000:.1f} kbit/s | "
                    f"{8 * wire_bytes(len(sealed)) * rate / 1000:.1f} kbit/s "
                    f"(+{100 * (wire_bytes(len(sealed)) / wire_bytes(len(plain)) - 1):.0f} %) | "
                    f"{seal_us:.1f} / {open_us:.1f} |")
    return "\n".join([
        HEADING, "",
        "A sealed packet is 23 bytes longer (key epoch 1, session 6, GCM tag 16; transport/README.md, "
        "\"Sealed packet\"). On the wire (IPv4, UDP, DTLS, SCTP: 93 bytes a packet, the message padded to 4):", "",
        *rows, "",
        f"Seal/open: mean of {repeats} packets each, Python `cryptography` AES-128-GCM on one core, "
        "including the replay check. The page uses WebCrypto (asynchronous, per packet).", "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPUs shared with "
        f"other work, Python {platform.python_version()}).", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20000, help="packets timed per configuration")
    parser.add_argument("--write", action="store_true", help="put the table into BENCHMARKS.md")
    args = parser.parse_args(argv)
    text = markdown(args.repeats, " ".join(["python bench/e2ee.py", *(argv if argv is not None else sys.argv[1:])]))
    print(text)
    if args.write:
        update_section(ROOT / "BENCHMARKS.md", HEADING, text.split("\n", 2)[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
