"""The dev evaluation set: real speech of speakers held out of every training corpus.

Held out: the Asterisk voice Allison (English and Spanish prompts; the English ones have
transcripts) and a few Fillets roles of the Czech and Dutch casts. The corpus builder drops
these speakers, so the dev set measures generalization to unseen voices. Clips are chosen
deterministically, trimmed, level-normalized and written as 16 kHz mono WAV with the corpus
manifest format (split ``dev``). Built by ``focalcall data devset`` or on demand by
``focalcall codec eval``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from codec.data import audio, sources
from codec.data.layout import DEVSET_DIR
from codec.data.manifest import MANIFEST, Entry, ManifestWriter, read_manifest
from codec.wavio import write_wav

log = logging.getLogger(__name__)

HELD_OUT_ASTERISK = ("en_US_f_Allison", "es_MX_f_Allison")
# Whole scenes are held out: minor roles of one level may share an actor.
HELD_OUT_PREFIXES = ("asterisk-allison", "fillets-cs-corridor-", "fillets-cs-bathyscaph-",
                     "fillets-nl-electromagnet-")
# (speaker, seconds of audio wanted) for the dev set itself.
DEV_SPEAKERS = (("asterisk-allison", 120.0), ("fillets-cs-corridor-r", 35.0),
                ("fillets-cs-bathyscaph-p", 35.0), ("fillets-nl-electromagnet-3", 35.0),
                ("fillets-nl-electromagnet-2", 30.0))
MIN_CLIP_S, MAX_CLIP_S = 2.0, 12.0
SEED = 2026


def is_held_out(speaker: str) -> bool:
    """True for speakers reserved for the dev set (never in a training corpus)."""
    return speaker.startswith(HELD_OUT_PREFIXES)


def build_devset(out: Path = DEVSET_DIR, cache: Path | None = None) -> list[Entry]:
    """Write the dev set into ``out`` (idempotent: an existing complete set is returned as is)."""
    out = Path(out)
    if (out / ".complete").exists():
        return read_manifest(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    candidates = sources.asterisk_clips(("en_US_f_Allison",), cache)
    candidates = [c for c in candidates if c.text is not None]
    candidates += sources.fillets_clips(None, cache)
    rng = np.random.default_rng(SEED)
    entries = []
    with ManifestWriter(out) as writer:
        for speaker, wanted in DEV_SPEAKERS:
            pool = [c for c in candidates if c.speaker == speaker]
            if not pool:
                raise RuntimeError(f"dev set speaker {speaker} has no clips: source data changed?")
            have = 0.0
            for i in rng.permutation(len(pool)):
                if have >= wanted:
                    break
                clip = pool[i]
                pcm = audio.trim_silence(sources.load_real(clip))
                if not MIN_CLIP_S <= len(pcm) / audio.RATE <= MAX_CLIP_S:
                    continue
                pcm = audio.normalize_level(pcm)
                path = f"clips/{clip.clip_id.replace('/', '_')}.wav"
                write_wav(out / path, pcm, audio.RATE)
                entry = Entry(path=path, speaker=speaker, source=clip.source, language=clip.language,
                              duration=round(len(pcm) / audio.RATE, 4), text=clip.text, split="dev")
                writer.append(entry)
                entries.append(entry)
                have += entry.duration
    (out / ".complete").write_text(f"{len(entries)} clips, {sum(e.duration for e in entries):.1f} s\n")
    return entries


def ensure_devset(path: Path | None = None, announce=print) -> Path:
    """``path`` (default :data:`DEVSET_DIR`) holding a dev set; the default is built if missing."""
    path = Path(path) if path is not None else DEVSET_DIR
    if (path / MANIFEST).exists() and ((path / ".complete").exists() or path != DEVSET_DIR):
        return path
    if path != DEVSET_DIR:
        raise FileNotFoundError(f"{path}: no {MANIFEST} here (not a dev set directory)")
    announce(f"dev set not found in {path}: building it from Debian packages (about a minute)...")
    entries = build_devset(path)
    announce(f"dev set ready: {len(entries)} clips, {sum(e.duration for e in entries):.0f} s")
    return path
