"""Run codecs over an evaluation set and score every clip.

Each codec goes through :func:`codec.roundtrip.run_roundtrip`, the streaming frame-by-frame
path of ``focalcall codec roundtrip``; the decoded audio is time-aligned with the reference,
so intrusive metrics compare like with like. Metric modules are imported only when asked
for, so a run with ``--metrics stoi`` needs none of the heavy evaluation packages.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.base import Codec
from codec.data.manifest import Entry, read_manifest
from codec.evaluation.metric_names import METRICS
from codec.registry import get_codec
from codec.roundtrip import run_roundtrip
from codec.wavio import read_wav, write_wav

RATE = 16000
RTF_SECONDS = 30.0  # audio timed for the real-time factors


class MetricUnavailable(RuntimeError):
    """A metric's packages or model files are missing; the message says how to install them."""


@dataclass
class EvalConfig:
    """Which codecs on which set, scored by which metrics."""

    codecs: tuple[str, ...]
    set_dir: Path
    metrics: tuple[str, ...] = tuple(METRICS)
    save_wavs: Path | None = None
    limit: int | None = None  # first N clips only (quick looks, tests)

    def __post_init__(self) -> None:
        if not self.codecs:
            raise ValueError("name at least one codec")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")


def load_metric(name: str):
    """Instantiate metric ``name`` (imports its packages now); a missing package is a clear error."""
    module, cls = METRICS[name]
    from codec.whisper_base import WhisperBaseMissing
    try:
        return getattr(importlib.import_module(module), cls)()
    except ImportError as exc:
        raise MetricUnavailable(f"metric {name} needs the eval extra ({exc.name} missing): "
                                f"FOCALCALL_EVAL=1 scripts/setup.sh") from exc
    except WhisperBaseMissing as exc:
        raise MetricUnavailable(f"metric {name}: {exc}") from exc


def load_set(set_dir: Path, limit: int | None = None) -> list[tuple[Entry, np.ndarray]]:
    """The clips of an evaluation set with their 16 kHz PCM."""
    entries = read_manifest(set_dir)[:limit]
    if not entries:
        raise ValueError(f"{set_dir}: the manifest lists no clips")
    return [(e, read_wav(Path(set_dir) / e.path, RATE)) for e in entries]


def measure_rtf(codec: Codec, pcm: np.ndarray) -> tuple[float, float]:
    """Encode and decode real-time factors (compute time / audio time) over ``pcm``, one thread."""
    from codec.resample import resample
    x = resample(pcm, RATE, codec.sample_rate)
    step = codec.frame_samples
    frames = [x[i: i + step] for i in range(0, len(x) - step + 1, step)]
    encoder, decoder = codec.encoder(), codec.decoder()
    start = time.perf_counter()
    payloads = [encoder.encode(f) for f in frames]
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    for p in payloads:
        decoder.decode(p)
    decode_s = time.perf_counter() - start
    seconds = len(frames) * step / codec.sample_rate
    return encode_s / seconds, decode_s / seconds


def _limit_threads() -> None:
    # Real-time factors are quoted for one thread; torch (neural codecs, metrics) would use all.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def _score(metrics: list, ref: np.ndarray | None, deg: np.ndarray, clip: Entry) -> dict:
    row: dict = {}
    for metric in metrics:
        row.update(metric.score(ref, deg, clip))
    return row


def summarize(rows: list[dict], columns: list[str]) -> dict[str, float | None]:
    """Mean of each column over clips that have it; WER pooled over words (corpus WER)."""
    out: dict[str, float | None] = {}
    for column in columns:
        if column == "wer":
            words = sum(r.get("wer_words", 0) for r in rows)
            out["wer"] = sum(r.get("wer_errors", 0) for r in rows) / words if words else None
            continue
        values = [r[column] for r in rows if r.get(column) is not None]
        out[column] = float(np.mean(values)) if values else None
    return out


def machine() -> str:
    """CPU model and core count, for reports."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def evaluate(config: EvalConfig, progress=lambda message: None) -> dict:
    """Score every codec of ``config`` on its set; returns the results as a JSON-able dict."""
    _limit_threads()
    codecs = [get_codec(name) for name in config.codecs]  # unknown names fail before any work
    clips = load_set(config.set_dir, config.limit)
    metrics = {name: load_metric(name) for name in config.metrics}
    columns = [c for m in metrics.values() for c in m.columns]
    free = [m for m in metrics.values() if getattr(m, "reference_free", False)]
    progress(f"{len(clips)} clips, {sum(len(p) for _, p in clips) / RATE:.0f} s; "
             f"metrics: {', '.join(columns)}")
    results: dict = {
        "set": str(config.set_dir), "clips": len(clips),
        "seconds": round(sum(len(p) for _, p in clips) / RATE, 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "metrics": columns, "codecs": {},
    }
    if free:  # the clean references' own MOS and WER: the ceiling each codec is judged against
        rows = [_score(free, None, pcm, clip) for clip, pcm in clips]
        results["reference"] = {"mean": summarize(rows, [c for m in free for c in m.columns]),
                                "clips": [{"path": c.path, **r} for (c, _), r in zip(clips, rows)]}
    timing_audio = np.concatenate([pcm for _, pcm in clips])[: int(RTF_SECONDS * RATE)]
    for codec in codecs:
        started = time.perf_counter()
        rows, payload_bits, payload_s = [], 0, 0.0
        for clip, pcm in clips:
            run = run_roundtrip(codec, pcm, RATE)
            payload_bits += 8 * run.payload_bytes
            payload_s += len(run.payloads) * run.frame_ms / 1000.0
            row = {"path": clip.path, "speaker": clip.speaker, "language": clip.language,
                   **_score(list(metrics.values()), pcm, run.pcm, clip)}
            rows.append(row)
            if config.save_wavs is not None:
                target = Path(config.save_wavs) / codec.name / Path(clip.path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                write_wav(target, run.pcm, RATE)
        rtf_encode, rtf_decode = measure_rtf(codec, timing_audio)
        results["codecs"][codec.name] = {
            "bitrate": codec.bitrate, "payload_bitrate": payload_bits / payload_s,
            "algorithmic_latency_ms": codec.algorithmic_latency_ms,
            "rtf_encode": rtf_encode, "rtf_decode": rtf_decode,
            "mean": summarize(rows, columns), "clips": rows,
        }
        progress(f"{codec.name}: done in {time.perf_counter() - started:.0f} s")
    return results
