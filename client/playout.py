"""Playing received audio on the default ALSA device through PyAV, mixed per sender."""
from __future__ import annotations

import collections
import logging
import threading

import numpy as np

from codec.base import Codec
from codec.resample import StreamResampler

logger = logging.getLogger(__name__)

PLAYOUT_RATE = 48000
BLOCK = PLAYOUT_RATE // 50  # 20 ms
PREBUFFER_BLOCKS = 3        # wait for 60 ms of audio per sender before playing it


class SpeakerSink:
    """Mixes the senders' decoded frames and writes them to the sound card in 20 ms blocks.

    The device's blocking writes are the playout clock; a sender whose queue runs dry
    contributes silence until it has refilled its pre-buffer.
    """

    def __init__(self, codec: Codec, device: str = "default") -> None:
        import av

        try:
            self._container = av.open(device, format="alsa", mode="w")
            self._stream = self._container.add_stream("pcm_s16le", rate=PLAYOUT_RATE, layout="mono")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ValueError(f"cannot open speaker {device!r}: {exc} (use --output FILE.wav)") from None
        self._av = av
        self._codec = codec
        self._lock = threading.Lock()
        self._queues: dict[int, collections.deque[np.ndarray]] = {}
        self._resamplers: dict[int, StreamResampler] = {}
        self._playing: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="playout", daemon=True)
        self._thread.start()

    def push(self, sender: int, pcm: np.ndarray) -> None:
        """Queue one decoded codec-rate frame from ``sender`` (called from the decode thread)."""
        resampler = self._resamplers.setdefault(sender, StreamResampler(self._codec.sample_rate, PLAYOUT_RATE))
        with self._lock:
            self._queues.setdefault(sender, collections.deque()).append(resampler.process(pcm))

    def close(self) -> None:
        """Stop playing and release the device; safe to call twice."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._container.close()

    def _next_block(self) -> np.ndarray:
        block = np.zeros(BLOCK, dtype=np.float32)
        with self._lock:
            for sender, q in self._queues.items():
                available = sum(len(c) for c in q)
                if sender not in self._playing:
                    if available < PREBUFFER_BLOCKS * BLOCK:
                        continue
                    self._playing.add(sender)
                if available < BLOCK:
                    self._playing.discard(sender)
                    continue
                block += _take(q, BLOCK)
        return block

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                block = np.clip(self._next_block(), -1.0, 1.0)
                frame = self._av.AudioFrame.from_ndarray((block * 32767).astype(np.int16)[None, :],
                                                         format="s16", layout="mono")
                frame.sample_rate = PLAYOUT_RATE
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
        except Exception as exc:  # the device vanished: stop playing, keep the call
            logger.error("playout stopped: %s", exc)


def _take(q: collections.deque[np.ndarray], n: int) -> np.ndarray:
    """Pop exactly ``n`` samples from the front of a queue of chunks."""
    parts, need = [], n
    while need:
        chunk = q[0]
        if len(chunk) <= need:
            parts.append(q.popleft())
            need -= len(chunk)
        else:
            parts.append(chunk[:need])
            q[0] = chunk[need:]
            need = 0
    return np.concatenate(parts)
