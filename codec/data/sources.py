"""Real speech and sentence text from Debian data packages.

Real speech: the Asterisk core prompts (G.722, 16 kHz; one voice per language, Allison
speaks both en and es) and the acted dialogue of Fish Fillets (Vorbis, Czech and Dutch casts).
Text for synthesis: Debian fortunes (English); Fillets' dialogue scripts add Spanish, French and
Italian sentences for Kokoro's voices in those languages. The English Asterisk transcripts are
the dev set's prompts and never become synthesis text.
"""
from __future__ import annotations

import functools
import gzip
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.data.debs import check_not_reserved, package_root
from codec.resample import resample

RATE = 16000

# voice directory -> (Debian package, speaker id, language)
ASTERISK_VOICES = {
    "en_US_f_Allison": ("asterisk-core-sounds-en-g722", "asterisk-allison", "en"),
    "es_MX_f_Allison": ("asterisk-core-sounds-es-g722", "asterisk-allison", "es"),
    "fr_CA_f_June": ("asterisk-core-sounds-fr-g722", "asterisk-june", "fr"),
    "it_IT_m_Carlo": ("asterisk-core-sounds-it-g722", "asterisk-carlo", "it"),
    "ru_RU_f_IvrvoiceRU": ("asterisk-core-sounds-ru-g722", "asterisk-ivrvoiceru", "ru"),
}
ASTERISK_TEXT_PACKAGE = "asterisk-core-sounds-en"
FILLETS_LANGUAGES = {"cs": "fillets-ng-data-cs", "nl": "fillets-ng-data-nl"}
FILLETS_SCRIPT_PACKAGE = "fillets-ng-data"
# The two fish are the same actors through the whole game; other roles belong to one level.
FILLETS_FISH = ("m", "v")
FORTUNES_PACKAGE = "fortunes"

MIN_SECONDS = 0.8
MAX_SECONDS = 20.0


@dataclass(frozen=True)
class RealClip:
    """One file of real speech: where it is and what is known about it."""

    source: str  # "asterisk" | "fillets"
    path: str  # absolute path of the original file
    speaker: str
    language: str
    text: str | None
    clip_id: str


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise RuntimeError("decoding G.722 needs imageio-ffmpeg: pip install -e '.[data]'") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def load_real(clip: RealClip) -> np.ndarray:
    """Decode ``clip`` to float32 mono PCM at 16 kHz, at most :data:`MAX_SECONDS` long."""
    check_not_reserved(clip.path)
    if clip.path.endswith(".g722"):
        raw = subprocess.run([_ffmpeg(), "-loglevel", "error", "-f", "g722", "-i", clip.path,
                              "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                             check=True, capture_output=True).stdout
        pcm = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768
    else:
        data, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        pcm = resample(data.mean(axis=1), rate, RATE)
    return pcm[: int(MAX_SECONDS * RATE)]


@functools.lru_cache(maxsize=None)
def asterisk_transcripts(cache: Path | None = None) -> dict[str, str]:
    """English prompt name (e.g. ``digits/1``) -> transcript; bracketed non-speech excluded."""
    root = package_root(ASTERISK_TEXT_PACKAGE, cache)
    path = root / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    out = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        name, sep, text = line.partition(":")
        text = text.strip()
        if not sep or line.startswith(";") or not text or text.startswith("["):
            continue
        out[name.strip()] = " ".join(text.split())
    return out


def asterisk_clips(voices: tuple[str, ...] | None = None, cache: Path | None = None) -> list[RealClip]:
    """Every Asterisk prompt of ``voices`` (directory names; default all), sorted."""
    clips = []
    for voice in voices or tuple(ASTERISK_VOICES):
        package, speaker, language = ASTERISK_VOICES[voice]
        base = package_root(package, cache) / "usr/share/asterisk/sounds" / voice
        texts = asterisk_transcripts(cache) if language == "en" else {}
        for path in sorted(base.rglob("*.g722")):
            name = path.relative_to(base).with_suffix("").as_posix()
            if name.startswith("silence/"):
                continue
            clips.append(RealClip("asterisk", str(path), speaker, language, texts.get(name),
                                  f"asterisk/{voice}/{name}"))
    return clips


_DIALOG = re.compile(r'dialogId\("([^"]+)"\s*,\s*"[^"]*"\s*,\s*"((?:[^"\\]|\\.)*)"\)'
                     r'(?:\s*dialogStr\("((?:[^"\\]|\\.)*)"\))?')


def fillets_dialogue(language: str, cache: Path | None = None) -> dict[str, str]:
    """Dialogue id (e.g. ``vit-hs-klid1``) -> line in ``language`` (``en`` gives the originals)."""
    scripts = package_root(FILLETS_SCRIPT_PACKAGE, cache) / "usr/share/games/fillets-ng/script"
    name = "dialogs_en.lua" if language == "en" else f"dialogs_{language}.lua"
    out = {}
    for path in sorted(scripts.glob(f"*/{name}")):
        for match in _DIALOG.finditer(path.read_text(encoding="utf-8", errors="replace")):
            key, english, translated = match.groups()
            text = (english if language == "en" else translated) or ""
            text = " ".join(text.replace('\\"', '"').split())
            if text:
                out[key] = text
    return out


def fillets_speaker(language: str, level: str, dialog_id: str) -> str | None:
    """Speaker id of a Fillets line (``vit-m-hlava`` -> small fish), None when unknown."""
    parts = dialog_id.split("-")
    if len(parts) < 3:
        return None
    role = parts[1]
    return f"fillets-{language}-{role}" if role in FILLETS_FISH else f"fillets-{language}-{level}-{role}"


def fillets_clips(languages: tuple[str, ...] | None = None, cache: Path | None = None) -> list[RealClip]:
    """Every Fillets dialogue recording with a known line, sorted; sound effects excluded."""
    clips = []
    for language in languages or tuple(FILLETS_LANGUAGES):
        texts = fillets_dialogue(language, cache)
        base = package_root(FILLETS_LANGUAGES[language], cache) / "usr/share/games/fillets-ng/sound"
        for path in sorted(base.glob(f"*/{language}/*.ogg")):
            level, dialog_id = path.parent.parent.name, path.stem
            speaker = fillets_speaker(language, level, dialog_id)
            text = texts.get(dialog_id)
            if speaker is None or text is None:
                continue
            clips.append(RealClip("fillets", str(path), speaker, language, text,
                                  f"fillets/{language}/{level}/{dialog_id}"))
    return clips


def fortunes(cache: Path | None = None, min_chars: int = 20, max_chars: int = 220) -> list[str]:
    """Short plain-ASCII sayings from Debian fortunes, one line each, sorted and unique."""
    root = package_root(FORTUNES_PACKAGE, cache) / "usr/share/games/fortunes"
    out = set()
    for path in sorted(root.iterdir()):
        if path.suffix or not path.is_file():  # skip the .dat index files
            continue
        for entry in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = " ".join(entry.split())
            if (min_chars <= len(text) <= max_chars and text.isascii() and text.isprintable()
                    and not re.search(r"[<>{}|_=@#~^\\]|--\s|\t", text)
                    and sum(c.isalpha() for c in text) > 0.7 * len(text)):
                out.add(text)
    return sorted(out)


def normalize_text(text: str) -> str:
    """Lower case, letters/digits/apostrophes only, single spaces: for comparing sentences."""
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def containing_none_of(sentences: list[str], phrases: list[str], min_words: int = 3) -> list[str]:
    """``sentences`` that contain none of ``phrases`` (of at least ``min_words`` words) as a run
    of whole words, compared after :func:`normalize_text`."""
    wanted = [f" {p} " for p in map(normalize_text, phrases) if len(p.split()) >= min_words]
    return [s for s in sentences if not any(p in f" {normalize_text(s)} " for p in wanted)]


def english_sentences(cache: Path | None = None) -> list[str]:
    """Sentence text for English synthesis: the fortunes, less any that quotes an English
    Asterisk prompt (the dev set's speech)."""
    return containing_none_of(fortunes(cache), list(asterisk_transcripts(cache).values()))


def foreign_sentences(language: str, cache: Path | None = None) -> list[str]:
    """Sentences in ``language`` (es, fr, it, ...) from the Fillets dialogue scripts."""
    return sorted({t for t in fillets_dialogue(language, cache).values() if 12 <= len(t) <= 220})
