"""Build a small real-speech corpus for codec training smoke runs (until data/corpus exists).

Decodes Debian ``asterisk-core-sounds-{en,es,fr,it,ru}-g722`` (4 speakers + 1, ~2 h, G.722)
into 16 kHz mono WAV and writes ``manifest.jsonl`` in the corpus format of the data issue.
Every 20th clip of each voice goes to ``valid``. Usage:

    python scripts/neural_smoke_corpus.py DEBS_DIR OUT_DIR

where DEBS_DIR holds the ``.deb`` files (``apt-get download asterisk-core-sounds-en-g722 …``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from codec.data.devset import HELD_OUT_ASTERISK  # noqa: E402

MIN_SECONDS = 1.0


def decode_g722(ffmpeg: str, src: Path) -> np.ndarray:
    """G.722 file → float32 mono at 16 kHz."""
    raw = subprocess.run([ffmpeg, "-loglevel", "error", "-f", "g722", "-i", str(src),
                          "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def main(debs: Path, out: Path) -> int:
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for deb in sorted(debs.glob("asterisk-core-sounds-*-g722_*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), tmp], check=True)
        for voice_dir in sorted((Path(tmp) / "usr/share/asterisk/sounds").iterdir()):
            voice = voice_dir.name
            if voice in HELD_OUT_ASTERISK:  # the dev set's voice: never trained on
                continue
            for i, src in enumerate(sorted(voice_dir.rglob("*.g722"))):
                audio = decode_g722(ffmpeg, src)
                if len(audio) < MIN_SECONDS * 16000:
                    continue
                rel = Path(voice) / (src.relative_to(voice_dir).with_suffix(".wav"))
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(out / rel, audio, 16000, subtype="PCM_16")
                rows.append({"path": str(rel), "speaker": voice, "source": "asterisk-core-sounds",
                             "language": voice[:2], "duration": round(len(audio) / 16000, 3),
                             "text": "", "split": "valid" if i % 20 == 0 else "train",
                             "augment": None})
    with open(out / "manifest.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    hours = sum(r["duration"] for r in rows) / 3600
    print(f"{len(rows)} clips, {hours:.2f} h → {out / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
