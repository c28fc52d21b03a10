"""Where a call's outgoing audio comes from: a WAV file or a microphone."""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import AsyncIterator, Protocol

import numpy as np

from codec.base import Codec
from codec.resample import StreamResampler
from codec.wavio import read_wav

logger = logging.getLogger(__name__)


class AudioSource(Protocol):
    """Yields codec-rate frames of ``codec.frame_samples`` float32 samples, in real time or faster."""

    realtime: bool

    def frames(self) -> AsyncIterator[np.ndarray]:
        ...


class WavSource:
    """A WAV file, converted to the codec's rate and cut into frames.

    The tail is padded with silence so that the codec's delay is flushed: the receiver,
    which removes that delay, then gets the whole file.
    """

    realtime = False

    def __init__(self, path: Path, codec: Codec) -> None:
        pcm = read_wav(path, codec.sample_rate)
        n = codec.frame_samples
        total = -(-(len(pcm) + codec.delay_samples) // n) * n
        self.pcm = np.pad(pcm, (0, total - len(pcm))).astype(np.float32)
        self.frame_samples = n
        self.duration = len(pcm) / codec.sample_rate

    async def frames(self) -> AsyncIterator[np.ndarray]:
        for start in range(0, len(self.pcm), self.frame_samples):
            yield self.pcm[start:start + self.frame_samples]


class MicSource:
    """The default ALSA capture device through PyAV, read in a thread."""

    realtime = True
    CAPTURE_RATE = 48000

    def __init__(self, codec: Codec, device: str = "default") -> None:
        import av

        try:
            self._container = av.open(device, format="alsa", mode="r",
                                      options={"sample_rate": str(self.CAPTURE_RATE), "channels": "1"})
        except (av.error.FFmpegError, OSError) as exc:
            raise ValueError(f"cannot open microphone {device!r}: {exc}") from None
        self._codec = codec
        self._stop = threading.Event()

    async def frames(self) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        thread = threading.Thread(target=self._capture, args=(loop, queue), daemon=True)
        thread.start()
        try:
            while (frame := await queue.get()) is not None:
                yield frame
        finally:
            self._stop.set()

    def _capture(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        resampler = StreamResampler(self.CAPTURE_RATE, self._codec.sample_rate)
        n = self._codec.frame_samples
        pending = np.zeros(0, dtype=np.float32)
        try:
            for packet_frame in self._container.decode(audio=0):
                if self._stop.is_set():
                    break
                raw = packet_frame.to_ndarray()
                samples = raw.astype(np.float32) / (32768.0 if raw.dtype.kind == "i" else 1.0)
                pending = np.concatenate([pending, resampler.process(samples.mean(axis=0))])
                while len(pending) >= n:
                    loop.call_soon_threadsafe(queue.put_nowait, pending[:n].copy())
                    pending = pending[n:]
        except Exception as exc:  # the device vanished: end the input, the call goes on
            logger.error("microphone capture stopped: %s", exc)
        finally:
            self._container.close()
            loop.call_soon_threadsafe(queue.put_nowait, None)

