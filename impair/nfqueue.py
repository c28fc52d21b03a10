"""A userspace netem: packets that an iptables NFQUEUE rule hands over are delayed, dropped,
reordered or corrupted by :class:`transport.impairment.Impairment` (the same model and the same
specification strings as ``tc ... netem``), then given back to the kernel.

Run it inside the namespace whose rule queues the packets::

    ip netns exec NS python -m impair.nfqueue --queue-num 1 "delay 40ms 20ms loss 5% 25%"

A verdict can be given only once per packet, so netem's ``duplicate`` cannot be reproduced:
duplicates the model asks for are counted, not sent. Needs PyPI ``netfilterqueue``.
"""
from __future__ import annotations

import argparse
import heapq
import json
import select
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from transport.impairment import Impairment
from transport.netem import NetemSpec, NetemSpecError, parse_netem


@dataclass
class ImpairerStats:
    """What the impairer did with the packets it was handed."""

    packets: int = 0
    dropped: int = 0
    delayed: int = 0  # released after a non-zero delay
    corrupted: int = 0
    duplicates_not_sent: int = 0


class NfqueueImpairer:
    """Holds queued packets until their release time; :meth:`run` serves until :meth:`stop`.

    The packet decisions are synchronous and clocked by ``time.monotonic``; the loop waits in
    ``select`` on the queue's socket until the next packet is due or a new one arrives.
    """

    def __init__(self, spec: NetemSpec | str, queue_num: int, seed: int | None = None) -> None:
        from netfilterqueue import NetfilterQueue  # optional dependency: only the fallback needs it

        self.impairment = Impairment(spec, seed=seed)
        self.stats = ImpairerStats()
        self._held: list[tuple[float, int, Any]] = []  # (release time, arrival order, packet)
        self._order = 0
        self._running = True
        self._queue = NetfilterQueue()
        self._queue.bind(queue_num, self._on_packet, max_len=4096)

    def _on_packet(self, packet: Any) -> None:
        now = time.monotonic()
        self.stats.packets += 1
        payload = packet.get_payload()
        copies = self.impairment.decide(now, payload)
        if not copies:
            self.stats.dropped += 1
            packet.drop()
            return
        self.stats.duplicates_not_sent += len(copies) - 1
        delay, data = copies[0]
        if data != payload:
            packet.set_payload(data)
            self.stats.corrupted += 1
        if delay <= 0:
            packet.accept()
            return
        packet.retain()
        self.stats.delayed += 1
        self._order += 1
        heapq.heappush(self._held, (now + delay, self._order, packet))

    def _release_due(self) -> None:
        now = time.monotonic()
        while self._held and self._held[0][0] <= now:
            heapq.heappop(self._held)[2].accept()

    def run(self) -> None:
        """Serve packets until :meth:`stop` (e.g. from a signal handler); then release the rest."""
        fd = self._queue.get_fd()
        try:
            while self._running:
                timeout = max(0.0, self._held[0][0] - time.monotonic()) if self._held else 0.5
                readable, _, _ = select.select([fd], [], [], timeout)
                if readable:
                    self._queue.run(block=False)
                self._release_due()
        finally:
            for _, _, packet in sorted(self._held, key=lambda item: item[:2]):
                packet.accept()
            self._held.clear()
            self._queue.unbind()

    def stop(self) -> None:
        self._running = False


def main(argv: list[str] | None = None) -> int:
    """Command line: serve one queue until SIGTERM/SIGINT, then print the stats as JSON."""
    parser = argparse.ArgumentParser(prog="python -m impair.nfqueue",
                                     description="Impair packets from an iptables NFQUEUE like netem.")
    parser.add_argument("--queue-num", type=int, default=1, help="NFQUEUE number (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the spec's, else 0)")
    parser.add_argument("spec", help='netem options, e.g. "delay 40ms 20ms loss 10%%"')
    args = parser.parse_args(argv)
    try:
        spec = parse_netem(args.spec)
    except NetemSpecError as exc:
        print(f"impair.nfqueue: error: {exc}", file=sys.stderr)
        return 2
    try:
        impairer = NfqueueImpairer(spec, args.queue_num, args.seed)
    except (ImportError, OSError) as exc:
        print(f"impair.nfqueue: error: cannot bind NFQUEUE {args.queue_num}: {exc}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: impairer.stop())
    print("ready", flush=True)
    impairer.run()
    print(json.dumps(asdict(impairer.stats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
