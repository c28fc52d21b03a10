"""The distillation teacher: Whisper-base's (non-causal) encoder, rebuilt in PyTorch.

Weights come from the CTranslate2 ``model.bin`` that :func:`codec.whisper_base.whisper_base_dir`
assembles. Layout of that file: u32 version, string spec name, u32 revision, u32 count, then per
variable: string name, u8 rank, u32 dims…, u8 dtype, u32 nbytes, raw bytes (strings are a u16
length including the NUL, then the bytes). Only ``encoder/…`` variables are read.

The encoder maps 100 Hz 80-bin log-mels to 512-d features at 50 Hz: feature i is centred on
sample ``320*i``, the centre of our codec's analysis window for frame i, so targets align
frame by frame. We run it on unpadded clips (Whisper pads to 30 s; that costs ~10× more on
CPU for the short crops we train on and the features remain speech-informative).
"""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_FFT, HOP_100HZ, N_MELS, SAMPLE_RATE = 400, 160, 80, 16000
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 model file whose names start with ``prefix``."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        def u32() -> int:
            return struct.unpack("<I", f.read(4))[0]

        def string() -> str:
            (n,) = struct.unpack("<H", f.read(2))
            return f.read(n)[:-1].decode()

        version, _, _ = u32(), string(), u32()
        if version < 5:
            raise ValueError(f"{path}: unsupported CTranslate2 model version {version}")
        for _ in range(u32()):
            name, rank = string(), f.read(1)[0]
            dims = [u32() for _ in range(rank)]
            dtype, nbytes = f.read(1)[0], u32()
            if not name.startswith(prefix):
                f.seek(nbytes, 1)
                continue
            if dtype not in _DTYPES:
                raise ValueError(f"{path}: variable {name} has unsupported dtype {dtype}")
            out[name] = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype]).reshape(dims)
    return out


def slaney_mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-scale, Slaney-normalised mel filters ``(n_mels, n_fft//2+1)`` as Whisper uses."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        lin = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, lin)

    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2:n_mels + 2] - hz[:n_mels]))[:, None]
    return weights.astype(np.float32)


class WhisperLogMel(nn.Module):
    """16 kHz audio ``(B, N)`` → Whisper's normalised log-mel ``(B, 80, N // 160)``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("filters", torch.from_numpy(slaney_mel_filters()), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, N_FFT, HOP_100HZ, window=self.window, return_complex=True)
        power = spec[..., :-1].abs() ** 2
        log_spec = torch.log10(torch.clamp(self.filters @ power, min=1e-10))
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).reshape(b, t, 3, self.heads, d // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.ffn(self.ffn_norm(x))


class WhisperEncoder(nn.Module):
    """Whisper-base encoder: log-mel ``(B, 80, 2T)`` → features ``(B, T, 512)``, non-causal."""

    def __init__(self, dim: int = 512, layers: int = 6, heads: int = 8, max_frames: int = 1500) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(max_frames, dim))
        self.layers = nn.ModuleList(_Layer(dim, heads, 4 * dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"teacher input longer than {self.positions.shape[0]} frames (30 s)")
        x = x + self.positions[: x.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    @classmethod
    def from_ctranslate2(cls, model_bin: Path) -> "WhisperEncoder":
        """Load the encoder weights of a CTranslate2 Whisper ``model.bin``."""
        v = read_ctranslate2(Path(model_bin))
        layers = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
        pos = v["encoder/position_encodings/encodings"]
        heads = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else 8
        enc = cls(dim=pos.shape[1], layers=layers, heads=heads, max_frames=pos.shape[0])
        sd: dict[str, np.ndarray] = {
            "conv1.weight": v["encoder/conv1/weight"], "conv1.bias": v["encoder/conv1/bias"],
            "conv2.weight": v["encoder/conv2/weight"], "conv2.bias": v["encoder/conv2/bias"],
            "positions": pos,
            "norm.weight": v["encoder/layer_norm/gamma"], "norm.bias": v["encoder/layer_norm/beta"],
        }
        for i in range(layers):
            p = f"encoder/layer_{i}/"
            sd.update({
                f"layers.{i}.attn_norm.weight": v[p + "self_attention/layer_norm/gamma"],
                f"layers.{i}.attn_norm.bias": v[p + "self_attention/layer_norm/beta"],
                f"layers.{i}.qkv.weight": v[p + "self_attention/linear_0/weight"],
                f"layers.{i}.qkv.bias": v[p + "self_attention/linear_0/bias"],
                f"layers.{i}.out.weight": v[p + "self_attention/linear_1/weight"],
                f"layers.{i}.out.bias": v[p + "self_attention/linear_1/bias"],
                f"layers.{i}.ffn_norm.weight": v[p + "ffn/layer_norm/gamma"],
                f"layers.{i}.ffn_norm.bias": v[p + "ffn/layer_norm/beta"],
                f"layers.{i}.ffn.0.weight": v[p + "ffn/linear_0/weight"],
                f"layers.{i}.ffn.0.bias": v[p + "ffn/linear_0/bias"],
                f"layers.{i}.ffn.2.weight": v[p + "ffn/linear_1/weight"],
                f"layers.{i}.ffn.2.bias": v[p + "ffn/linear_1/bias"],
            })
        enc.load_state_dict({k: torch.from_numpy(a.astype(np.float32)) for k, a in sd.items()})
        return enc.eval()


class WhisperTeacher(nn.Module):
    """Audio ``(B, T*320)`` at 16 kHz → frozen teacher features ``(B, T, 512)``."""

    def __init__(self, encoder: WhisperEncoder) -> None:
        super().__init__()
        self.mel = WhisperLogMel()
        self.encoder = encoder
        self.requires_grad_(False)

    @classmethod
    def load(cls) -> "WhisperTeacher":
        from codec.whisper_base import whisper_base_dir
        return cls(WhisperEncoder.from_ctranslate2(whisper_base_dir() / "model.bin")).eval()

    @torch.no_grad()
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = audio.shape[-1] // 320
        if frames < 1:
            raise ValueError("teacher input shorter than one 20 ms frame")
        feats = self.encoder(self.mel(audio[..., : frames * 320]))
        return feats[:, :frames]


def _positions_check(enc: WhisperEncoder) -> float:
    """Largest deviation of the loaded position table from Whisper's sinusoids (sanity check)."""
    n, d = enc.positions.shape
    inc = math.log(10000) / (d // 2 - 1)
    inv = torch.exp(-inc * torch.arange(d // 2))
    t = torch.arange(n)[:, None] * inv[None, :]
    ref = torch.cat([torch.sin(t), torch.cos(t)], dim=1)
    return float((ref - enc.positions).abs().max())
