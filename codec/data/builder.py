"""Build a training corpus: a deterministic, resumable job stream written by worker processes.

Job ``i`` of the stream is a pure function of the seed and ``i`` (a real clip to decode or a
sentence to synthesize with a given voice and speed), so a rerun with the same seed resumes
where the manifest ends and any prefix of the stream is the same whatever ``hours`` says.
Real clips and synthesis are interleaved so that real speech makes up ``real_fraction`` of
the audio until the real sources run out. Speakers go to train or valid, never both: each
source holds out some of its speakers, and a resume refuses a corpus split another way.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.data import audio, augment, devset, recordings, sources, synth
from codec.data.debs import check_not_reserved
from codec.data.layout import SOURCES
from codec.data.manifest import Entry, ManifestWriter, read_manifest
from codec.wavio import write_wav

log = logging.getLogger(__name__)

SYNTHETIC = ("kokoro", "piper")
BATCH = 32  # jobs handed to the pool at a time; the stream is otherwise unbounded
CHARS_PER_SECOND = 14.0  # rough speaking rate, only used to balance real and synthetic audio
# A voice shift scales pitch and formants together by a factor from this range or its inverse.
SHIFT_RANGE = (1.05, 1.14)


@dataclass
class BuildConfig:
    """What to build; ``sources`` may be any subset of :data:`SOURCES`."""

    out: Path
    hours: float
    seed: int = 0
    sources: tuple[str, ...] = SOURCES
    workers: int = 2
    real_fraction: float = 0.4
    valid_fraction: float = 0.1
    blends: int = 24
    voice_shifts: int = 0  # shifted copies of each synthetic speaker (new voices)
    augment: bool = True
    kokoro_voices: tuple[str, ...] | None = None  # None: every voice
    asterisk_voices: tuple[str, ...] | None = None  # None: every voice not held out
    fillets_languages: tuple[str, ...] | None = None
    cache: Path | None = None  # cache root (default .cache/): Debian packages, Kokoro voices
    progress: bool = True

    @property
    def deb_cache(self) -> Path | None:
        return None if self.cache is None else Path(self.cache) / "debs"

    @property
    def voice_cache(self) -> Path | None:
        return None if self.cache is None else Path(self.cache) / "kokoro-js"

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        for name in self.sources:
            check_not_reserved(name)
            if name not in SOURCES:
                raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")
        if not self.sources:
            raise ValueError("at least one source is needed")
        if not self.hours > 0 or not math.isfinite(self.hours):
            raise ValueError(f"hours must be a positive number, got {self.hours}")
        if self.blends < 0 or self.voice_shifts < 0:
            raise ValueError("blends and voice_shifts must be >= 0")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if not 0.0 <= self.real_fraction <= 1.0 or not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError("real_fraction must be in [0, 1] and valid_fraction in [0, 1)")
        for voice in self.asterisk_voices or ():
            if voice not in sources.ASTERISK_VOICES:
                raise ValueError(f"unknown Asterisk voice {voice!r}")
            if voice in devset.HELD_OUT_ASTERISK:
                raise ValueError(f"Asterisk voice {voice} is held out for the dev set")


@dataclass
class Plan:
    """Everything the job stream is drawn from, fixed by the config."""

    real: list[sources.RealClip]
    real_seconds: list[float]
    synth_speakers: list[dict]  # {"kind", "speaker", "voice"?}
    texts: dict[str, list[str]]  # language -> sentences
    split: dict[str, str] = field(default_factory=dict)  # speaker -> "train" | "valid"


def make_plan(config: BuildConfig) -> Plan:
    """Enumerate sources, drop held-out speakers, shuffle, split speakers, then make new voices.

    Pure voices and real speakers are split first; blends mix two voices of the same split and
    voice shifts (:func:`audio.shift_voice`) copy a synthetic speaker within its split, so no
    valid voice is ever part of a training voice.
    """
    rng = np.random.default_rng([config.seed, 1])
    real: list[sources.RealClip] = []
    if "asterisk" in config.sources:
        voices = config.asterisk_voices or tuple(v for v in sources.ASTERISK_VOICES
                                                 if v not in devset.HELD_OUT_ASTERISK)
        real += sources.asterisk_clips(voices, config.deb_cache)
    if "fillets" in config.sources:
        real += sources.fillets_clips(config.fillets_languages, config.deb_cache)
    for name in recordings.PACKAGES:
        if name in config.sources:
            real += recordings.recording_clips(name, config.deb_cache)
    real = [c for c in real if not devset.is_held_out(c.speaker)]
    for clip in real:
        check_not_reserved(clip.path)
    real = [real[i] for i in rng.permutation(len(real))]
    seconds = [_file_seconds(c.path) for c in real]

    speakers: list[dict] = []
    texts: dict[str, list[str]] = {}
    if set(config.sources) & set(SYNTHETIC):
        texts["en"] = sources.english_sentences(config.deb_cache)
    names: list[str] = []
    if "kokoro" in config.sources:
        names = list(config.kokoro_voices or synth.kokoro_voices(config.voice_cache))
        for name in names:
            speakers.append({"kind": "kokoro", "speaker": synth.KokoroVoice(name).speaker,
                             "voice": [name, None, 1.0]})
        for language in {synth.text_language(n) for n in names} - {"en"}:
            texts[language] = sources.foreign_sentences(language, config.deb_cache)
    if "piper" in config.sources:
        speakers.append({"kind": "piper", "speaker": synth.Piper.speaker})
    plan = Plan(real, seconds, speakers, texts)
    plan.split = split_speakers(plan, config, rng)
    speakers += _blends(names, plan.split, config, rng)
    speakers += _shifted(speakers, config, rng)
    for speaker in speakers:
        plan.split.setdefault(speaker["speaker"], plan.split[speaker.get("base", speaker["speaker"])])
    plan.synth_speakers = [speakers[i] for i in rng.permutation(len(speakers))]
    return plan


def _blends(names: list[str], split: dict[str, str], config: BuildConfig,
            rng: np.random.Generator) -> list[dict]:
    """Two-voice Kokoro blends, each of two voices from the same split."""
    out = []
    for part in ("train", "valid"):
        members = [n for n in names if split[synth.KokoroVoice(n).speaker] == part]
        count = config.blends if part == "train" else round(config.blends * config.valid_fraction)
        if len(members) < 2:
            continue
        for _ in range(count):
            a, b = rng.choice(len(members), size=2, replace=False)
            weight = round(float(rng.uniform(0.3, 0.7)), 2)
            voice = synth.KokoroVoice(members[a], members[b], weight)
            out.append({"kind": "kokoro", "speaker": voice.speaker,
                        "voice": [members[a], members[b], weight]})
            split[voice.speaker] = part
    return out


def _shifted(speakers: list[dict], config: BuildConfig, rng: np.random.Generator) -> list[dict]:
    """``config.voice_shifts`` pitch-and-formant shifted copies of every synthetic speaker."""
    out = []
    for speaker in speakers:
        for _ in range(config.voice_shifts):
            factor = float(rng.uniform(*SHIFT_RANGE)) ** float(rng.choice([-1.0, 1.0]))
            factor = round(factor * 80) / 80  # 200 Hz steps of the playback rate: short filters
            out.append({**speaker, "speaker": f"{speaker['speaker']}~{factor:.3f}",
                        "shift": factor, "base": speaker["speaker"]})
    return out


def split_speakers(plan: Plan, config: BuildConfig, rng: np.random.Generator) -> dict[str, str]:
    """Speaker -> split. Each source holds out about ``valid_fraction`` of its speakers (at least
    one of a source with several), so every kind of voice the corpus trains on, Kokoro's English
    with its transcripts included, is also in the valid split; speakers holding a large share of
    the real audio (the Fillets fish, whole Asterisk voices) stay in train. A corpus whose sources
    have one speaker each still holds one speaker out."""
    real_seconds: dict[str, float] = {}
    source_of: dict[str, str] = {}
    for clip, seconds in zip(plan.real, plan.real_seconds):
        real_seconds[clip.speaker] = real_seconds.get(clip.speaker, 0.0) + seconds
        source_of[clip.speaker] = clip.source
    for speaker in plan.synth_speakers:
        source_of[speaker["speaker"]] = speaker["kind"]
    names = sorted(source_of)
    total = sum(real_seconds.values())
    small = [n for n in names if real_seconds.get(n, 0.0) <= 0.05 * total] or names
    valid: set[str] = set()
    for source in sorted(set(source_of.values())):
        members = [n for n in small if source_of[n] == source]
        if len(members) >= 2:
            count = max(1, round(config.valid_fraction * len(members)))
            valid |= {members[i] for i in rng.permutation(len(members))[:count]}
    if not valid and len(names) >= 2:
        valid = {small[int(rng.integers(len(small)))]}
    return {n: "valid" if n in valid else "train" for n in names}


def _file_seconds(path: str) -> float:
    if path.endswith(".g722"):
        return os.path.getsize(path) * 8 / 64000.0  # G.722 runs at 64 kbit/s
    return float(sf.info(path).duration)


def job(plan: Plan, config: BuildConfig, index: int, real_next: int, synth_next: int) -> dict:
    """Job ``index``: the next real clip (number ``real_next``) or synthetic sentence."""
    rng = np.random.default_rng([config.seed, 2, index])
    recipe = augment.sample_recipe(rng) if config.augment else None
    if real_next >= 0:
        clip = plan.real[real_next]
        return {"index": index, "kind": "real", "clip": clip.__dict__, "speaker": clip.speaker,
                "source": clip.source, "language": clip.language, "text": clip.text,
                "split": plan.split[clip.speaker], "augment": recipe}
    speaker = plan.synth_speakers[synth_next % len(plan.synth_speakers)]
    language = synth.text_language(speaker["voice"][0]) if speaker["kind"] == "kokoro" else "en"
    sentences = plan.texts[language]
    text = sentences[int(rng.integers(len(sentences)))]
    speed = round(float(rng.uniform(0.8, 1.25) if speaker["kind"] == "kokoro" else rng.uniform(0.85, 1.15)), 3)
    return {"index": index, "kind": speaker["kind"], "voice": speaker.get("voice"), "speed": speed,
            "speaker": speaker["speaker"], "source": speaker["kind"], "language": language,
            "text": text, "split": plan.split[speaker["speaker"]], "augment": recipe,
            "shift": speaker.get("shift", 1.0)}


def job_stream(plan: Plan, config: BuildConfig):
    """Jobs in order: real clips take ``real_fraction`` of the (estimated) audio while they last."""
    real_next = synth_next = 0
    real_s = synth_s = 0.0
    use_synth = bool(plan.synth_speakers)
    index = 0
    while True:
        want_real = real_next < len(plan.real) and (
            not use_synth or real_s <= config.real_fraction * (real_s + synth_s))
        if want_real:
            yield job(plan, config, index, real_next, -1)
            real_s += plan.real_seconds[real_next]
            real_next += 1
        elif use_synth:
            spec = job(plan, config, index, -1, synth_next)
            synth_s += len(spec["text"]) / CHARS_PER_SECOND / spec["speed"]
            synth_next += 1
            yield spec
        else:
            return
        index += 1


def clip_path(spec: dict) -> str:
    return f"{spec['split']}/{spec['source']}/{spec['index']:07d}.wav"


_synthesizers: dict = {}  # per worker process, loaded on first use


def _synthesizer(kind: str, voice_cache: Path | None):
    if kind not in _synthesizers:
        _synthesizers[kind] = synth.Kokoro(voice_cache) if kind == "kokoro" else synth.Piper()
    return _synthesizers[kind]


def run_job(spec: dict, out: Path, voice_cache: Path | None) -> dict | None:
    """Produce one clip: decode or synthesize, trim, normalize, write. None when unusable."""
    try:
        if spec["kind"] == "real":
            pcm = sources.load_real(sources.RealClip(**spec["clip"]))
        elif spec["kind"] == "kokoro":
            first, second, weight = spec["voice"]
            voice = synth.KokoroVoice(first, second, weight)
            pcm = _synthesizer("kokoro", voice_cache).synthesize(spec["text"], spec["language"], voice, spec["speed"])
        else:
            pcm = _synthesizer("piper", voice_cache).synthesize(spec["text"], spec["speed"])
        if spec.get("shift", 1.0) != 1.0:
            pcm = audio.shift_voice(pcm, spec["shift"])
        pcm = audio.trim_silence(pcm)
        if len(pcm) < sources.MIN_SECONDS * audio.RATE:
            return None
        pcm = audio.normalize_level(pcm)
    except (ValueError, RuntimeError, OSError) as exc:
        log.warning("job %d (%s) skipped: %s", spec["index"], spec["speaker"], exc)
        return None
    path = clip_path(spec)
    target = Path(out) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}.wav")
    write_wav(tmp, pcm, audio.RATE)
    os.replace(tmp, target)
    return Entry(path=path, speaker=spec["speaker"], source=spec["source"], language=spec["language"],
                 duration=round(len(pcm) / audio.RATE, 4), text=spec["text"], split=spec["split"],
                 augment=spec["augment"]).__dict__


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # one core per worker; the synthesizers run onnxruntime


def build(config: BuildConfig) -> list[Entry]:
    """Build (or resume) the corpus in ``config.out``; returns the complete manifest."""
    config.out.mkdir(parents=True, exist_ok=True)
    done = read_manifest(config.out) if (config.out / "manifest.jsonl").exists() else []
    done_paths = {e.path for e in done}
    total = sum(e.duration for e in done)
    target = config.hours * 3600.0
    if total >= target:
        return done
    plan = make_plan(config)
    moved = sorted({e.speaker for e in done if plan.split.get(e.speaker, e.split) != e.split})
    if moved:
        raise ValueError(f"{config.out} was built with another speaker split ({moved[0]} and "
                         f"{len(moved) - 1} more changed sides): build into a new directory")
    bar = _progress(config, total, target)
    stream = (spec for spec in job_stream(plan, config) if clip_path(spec) not in done_paths)
    pool = None
    if config.workers > 1:
        import multiprocessing
        pool = multiprocessing.get_context("spawn").Pool(config.workers, initializer=_init_worker)
    try:
        with ManifestWriter(config.out) as writer:
            while total < target:
                batch = [spec for _, spec in zip(range(BATCH), stream)]
                if not batch:
                    log.warning("sources exhausted at %.1f of %.1f hours", total / 3600, config.hours)
                    break
                args = [(spec, config.out, config.voice_cache) for spec in batch]
                results = pool.imap(_run_job_args, args) if pool else map(_run_job_args, args)
                for row in results:
                    if row is None:
                        continue
                    entry = Entry(**row)
                    writer.append(entry)
                    done.append(entry)
                    total += entry.duration
                    bar.update(int(min(total, target)) - bar.n)
                    if total >= target:
                        break
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return done


def _run_job_args(args: tuple) -> dict | None:
    return run_job(*args)


class _NoBar:
    n = 0

    def update(self, n: float) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(config: BuildConfig, done: float, target: float):
    if not config.progress:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    # Counts seconds of audio written, so the ETA holds whatever the clip lengths.
    return tqdm(total=int(target), initial=int(min(done, target)), unit="s audio",
                desc=f"corpus {config.out.name}", smoothing=0.05,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]")
