"""More real speech from Debian data packages: a Russian TTS database and games' voice lines.

- ``festvox``: festvox-ru's unit-selection database (one male Russian speaker, 16 kHz WAV).
- ``hedgewars``: the game's voice packs (short English exclamations, a few other languages);
  one speaker per pack.
- ``megaglest``: unit acknowledgements of MegaGlest's factions (English); one speaker per unit.
- ``warzone``: Warzone 2100's English radio and tutorial lines, Vorbis files inside the
  ``base.wz`` zip (unpacked into the package cache on first use; sound effects and radio clicks
  skipped); one speaker per line group.

Each clip is a :class:`~codec.data.sources.RealClip` without text, loaded by
:func:`~codec.data.sources.load_real`; clips shorter than :data:`sources.MIN_SECONDS` are
dropped by the builder like any other.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from codec.data.debs import package_root
from codec.data.sources import RealClip

# source -> Debian package
PACKAGES = {"festvox": "festvox-ru", "hedgewars": "hedgewars-data",
            "megaglest": "megaglest-data", "warzone": "warzone2100-data"}
# Hedgewars packs with a language suffix (Default_pl) speak that language; the rest English.
HEDGEWARS_LANGUAGES = {"pl": "pl", "es": "es", "uk": "uk", "ru": "ru", "de": "de", "fr": "fr",
                       "it": "it", "pt": "pt", "cs": "cs", "sv": "sv", "nl": "nl"}
# Warzone's audio folders of sound effects and radio clicks rather than speech.
WARZONE_SKIP = ("sfx", "radclick", "coltive")


def festvox_clips(cache: Path | None = None) -> list[RealClip]:
    """festvox-ru's recordings (``ru_NNNN.wav``), one speaker."""
    root = package_root(PACKAGES["festvox"], cache)
    base = root / "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav"
    return [RealClip("festvox", str(p), "festvox-ru-nsh", "ru", None, f"festvox/{p.stem}")
            for p in sorted(base.glob("*.wav"))]


def hedgewars_clips(cache: Path | None = None) -> list[RealClip]:
    """Hedgewars voice-pack lines, one speaker per pack."""
    root = package_root(PACKAGES["hedgewars"], cache)
    base = root / "usr/share/games/hedgewars/Data/Sounds/voices"
    clips = []
    for path in sorted(base.glob("*/*.ogg")):
        pack = path.parent.name
        suffix = pack.rpartition("_")[2].lower() if "_" in pack else ""
        language = HEDGEWARS_LANGUAGES.get(suffix, "en")
        clips.append(RealClip("hedgewars", str(path), f"hedgewars-{pack.lower()}", language, None,
                              f"hedgewars/{pack}/{path.stem}"))
    return clips


def megaglest_clips(cache: Path | None = None) -> list[RealClip]:
    """MegaGlest unit acknowledgements (``factions/F/units/U/sounds``), one speaker per unit."""
    root = package_root(PACKAGES["megaglest"], cache)
    base = root / "usr/share/games/megaglest/techs/megapack/factions"
    clips = []
    for path in sorted(base.glob("*/units/*/sounds/*.wav")):
        faction, unit = path.parts[-5], path.parts[-3]
        clips.append(RealClip("megaglest", str(path), f"megaglest-{faction}-{unit}", "en", None,
                              f"megaglest/{faction}/{unit}/{path.stem}"))
    return clips


def warzone_clips(cache: Path | None = None) -> list[RealClip]:
    """Warzone 2100 speech from ``base.wz``, one speaker per top-level audio folder."""
    root = package_root(PACKAGES["warzone"], cache)
    audio = _unpack_warzone_audio(root)
    clips = []
    for path in sorted(audio.rglob("*.ogg")):
        group = path.relative_to(audio).parts[0]
        if group in WARZONE_SKIP or path.parent == audio:
            continue
        name = path.relative_to(audio).with_suffix("").as_posix()
        clips.append(RealClip("warzone", str(path), f"warzone-{group}", "en", None, f"warzone/{name}"))
    return clips


def _unpack_warzone_audio(root: Path) -> Path:
    """``base.wz``'s ``audio/`` folder, unpacked next to the package once."""
    out = root / "unpacked"
    if (out / ".complete").exists():
        return out / "audio"
    archive = root / "usr/share/games/warzone2100/base.wz"
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if m.startswith("audio/") and m.endswith(".ogg")]
        zf.extractall(out, members=members)
    (out / ".complete").write_text(f"{len(members)} files\n")
    return out / "audio"


CLIP_FUNCTIONS = {"festvox": festvox_clips, "hedgewars": hedgewars_clips,
                  "megaglest": megaglest_clips, "warzone": warzone_clips}


def recording_clips(source: str, cache: Path | None = None) -> list[RealClip]:
    """Every clip of one of :data:`PACKAGES`' sources."""
    if source not in CLIP_FUNCTIONS:
        raise ValueError(f"unknown recording source {source!r}; choose from {', '.join(PACKAGES)}")
    return CLIP_FUNCTIONS[source](cache)
