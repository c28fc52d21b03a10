"""Model configuration of the neural codec: one dataclass, loaded from YAML or JSON.

The frame (320 samples at 16 kHz, 50 Hz) and the analysis/synthesis window (two frames) are
fixed by the codec's latency budget; width, depth and focal levels are free.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16000
HOP = 320            # samples per frame: 20 ms, 50 Hz
WINDOW = 2 * HOP     # analysis/synthesis window: the frame plus the previous one
TEACHER_DIM = 512    # Whisper-base encoder width
HEADS = ("istft", "source_filter")


@dataclass
class ModelConfig:
    """Sizes of the causal encoder, the binary quantizer and the causal decoder."""

    dim: int = 192                # channels of every focal block
    encoder_blocks: int = 6
    decoder_blocks: int = 7
    focal_levels: int = 3         # hierarchical depthwise convolutions per block
    focal_kernel: int = 3         # kernel of level 0; level l uses focal_kernel + 2 * l
    mlp_ratio: float = 3.0
    n_mels: int = 80
    bits: int = 16                # B: bits per frame, one binary codebook
    bit_options: list[int] = field(default_factory=lambda: [16, 12, 8])
    layer_scale: float = 0.1      # initial residual scale (ConvNeXt/Vocos style)
    phase_hidden: int = 0         # width of the head's residual phase MLP (0: linear phase only)
    synthesis_hop: int = HOP      # spacing of the head's synthesis frames: HOP, or HOP / 2, ...
    decoder_lookahead: int = 1    # codes the decoder sees beyond the frame it synthesises: 0 or 1
    head: str = "istft"           # "istft" (Vocos-style) or "source_filter" (f0, envelope, noise)
    decoder_teacher: bool = False  # a training-only head rebuilds the teacher's features from codes

    def __post_init__(self) -> None:
        for name in ("dim", "encoder_blocks", "decoder_blocks", "focal_levels", "focal_kernel",
                     "n_mels", "bits"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"model.{name} must be a positive integer")
        if self.focal_kernel % 2 == 0:
            raise ValueError("model.focal_kernel must be odd")
        if int(self.phase_hidden) < 0:
            raise ValueError("model.phase_hidden must be 0 (none) or a positive width")
        if int(self.synthesis_hop) < 1 or HOP % int(self.synthesis_hop):
            raise ValueError(f"model.synthesis_hop must divide the frame ({HOP} samples)")
        if int(self.decoder_lookahead) not in (0, 1):
            raise ValueError("model.decoder_lookahead must be 0 or 1 (codes beyond the frame)")
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.mlp_ratio <= 0:
            raise ValueError("model.mlp_ratio must be positive")
        self.bit_options = sorted({int(b) for b in self.bit_options}, reverse=True)
        if not self.bit_options or self.bit_options[0] != self.bits or self.bit_options[-1] < 1:
            raise ValueError(f"model.bit_options must lie in 1..{self.bits} and include bits")

    @property
    def hidden(self) -> int:
        """Width of the MLP inside each focal block."""
        return int(round(self.dim * self.mlp_ratio))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


def load_config_file(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a YAML (``.yaml``/``.yml``) or JSON config file into a dict.

    A file may say ``extends: OTHER`` (a path relative to it) to start from OTHER's settings:
    its sections' keys override OTHER's, and its ``extra_stages`` are appended to OTHER's
    stages. A run that goes on from another then states only what it changes.
    """
    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    if path in _seen:
        raise ValueError(f"{path}: config files extend each other in a loop")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # training-only dependency: imported when a YAML file is actually read
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping at its top level")
    parent = data.pop("extends", None)
    extra_stages = data.pop("extra_stages", [])
    if parent is None:
        if extra_stages:
            raise ValueError(f"{path}: extra_stages needs extends")
        return data
    merged = load_config_file(path.parent / parent, _seen + (path,))
    for section, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **value}
        else:
            merged[section] = value
    merged["stages"] = list(merged.get("stages", [])) + list(extra_stages)
    return merged
