"""The focalcall neural codec: causal encoder → binary spherical quantizer → causal decoder.

Timing (HOP = 320 samples = 20 ms, frame t = samples ``[HOP*t, HOP*(t+1))``):

- Encoder: code t is computed from samples up to the end of frame t (analysis window
  ``[HOP*(t-1), HOP*(t+1))``); encoder look-ahead is zero.
- Decoder: causal over codes. With ``decoder_lookahead = 1`` (the default) its output at step j
  is synthesis frame j-1, i.e. it sees one code beyond the frame it synthesises; with 0 it is
  synthesis frame j. The decoder's layers are the same either way: only the training target
  moves.
- Synthesis: output chunk j = original chunk j-1-lookahead, so output lags input by
  ``delay_samples = HOP + lookahead*HOP`` (20 ms window overlap + 20 ms look-ahead). With the
  20 ms frame that makes 60 ms algorithmic latency (40 ms without the look-ahead). Both heads
  keep that timing: the iSTFT head overlap-adds 40 ms frames; the source-filter head's chunk
  runs from the previous frame's centre to the current one's.

The streaming API is ``encoder_step`` / ``decoder_step`` with explicit flat state tensors
``(B, state_size)`` (zeros at the start of a stream), which the ONNX export keeps as graph
inputs and outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from codec.neural.config import HOP, TEACHER_DIM, ModelConfig
from codec.neural.focal import FocalStack
from codec.neural.frontend import LogMelFrontEnd
from codec.neural.head import ISTFTHead, overlap_add
from codec.neural.quantizer import BinarySphericalQuantizer
from codec.neural.sf_head import SourceFilterHead

ENCODER_LOOKAHEAD_SAMPLES = 0


@dataclass
class ForwardOutput:
    """Everything one training forward pass produces."""

    features: torch.Tensor   # (B, T, C) encoder output
    u: torch.Tensor          # (B, T, bits) unit vectors before the sign
    codes: torch.Tensor      # (B, T, bits) masked signs (straight-through)
    hidden: torch.Tensor     # (B, T, C) decoder features, step j describing frame j-lookahead
    frames: torch.Tensor | None  # (B, T, K, WINDOW) the iSTFT head's frames (None otherwise)
    audio: torch.Tensor | None   # (B, T*HOP) decoded audio lagging the input by delay_samples


class FocalCodecModel(nn.Module):
    """Encoder, quantizer and decoder, whole-sequence and streaming."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.frontend = LogMelFrontEnd(c.n_mels)
        self.encoder_in = nn.Linear(c.n_mels, c.dim)
        self.encoder = FocalStack(c.dim, c.hidden, c.encoder_blocks, c.focal_levels,
                                  c.focal_kernel, c.layer_scale)
        self.quantizer = BinarySphericalQuantizer(c.dim, c.bits)
        self.decoder = FocalStack(c.dim, c.hidden, c.decoder_blocks, c.focal_levels,
                                  c.focal_kernel, c.layer_scale)
        self.head = (SourceFilterHead(c.dim) if c.head == "source_filter"
                     else ISTFTHead(c.dim, c.phase_hidden, c.synthesis_hop))
        # Training only: maps encoder features to the teacher's space for distillation.
        self.distill_head = nn.Linear(c.dim, TEACHER_DIM)
        # Training only: rebuilds the teacher's features from the codes (FocalCodec's
        # decompressor), so the bits themselves learn phonetic content.
        self.teacher_head = nn.Linear(c.dim, TEACHER_DIM) if c.decoder_teacher else None

    # ---- whole sequence ------------------------------------------------------------------

    def encode_features(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, T*HOP)`` → ``(B, T, C)`` causal encoder features."""
        return self.encoder(self.encoder_in(self.frontend(audio)))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, T*HOP)`` → ``(B, T, bits)`` signs in {-1, +1}."""
        return self.quantizer.signs(self.quantizer.project(self.encode_features(audio)))

    def decoder_features(self, signs: torch.Tensor) -> torch.Tensor:
        """``(B, T, bits)`` signs in {-1, 0, +1} → decoder features ``(B, T, C)``."""
        return self.decoder(self.quantizer.dequantize(signs))

    def decode(self, signs: torch.Tensor) -> torch.Tensor:
        """``(B, T, bits)`` signs in {-1, 0, +1} (all-zero frame = missing) → ``(B, T*HOP)``.

        The output lags the encoder's input by :attr:`delay_samples`.
        """
        return self.head.synthesize(self.decoder_features(signs))

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None,
                synthesize: bool = True) -> ForwardOutput:
        """Training pass. ``audio (B, T*HOP)``; ``mask (B, T, bits)`` keeps bits (1) or drops them;
        ``synthesize=False`` stops at the decoder features (parameter and teacher losses)."""
        features = self.encode_features(audio)
        u = self.quantizer.project(features)
        codes = self.quantizer.quantize(u, mask)
        hidden = self.decoder_features(codes)
        frames = audio_out = None
        if synthesize and isinstance(self.head, ISTFTHead):
            frames = self.head(hidden)
            audio_out = overlap_add(frames)
        elif synthesize:
            audio_out = self.head.synthesize(hidden)
        return ForwardOutput(features, u, codes, hidden, frames, audio_out)

    @property
    def delay_samples(self) -> int:
        """How far the decoded audio lags the encoder's input: window overlap + look-ahead."""
        return HOP + self.config.decoder_lookahead * HOP

    # ---- streaming -----------------------------------------------------------------------

    @property
    def encoder_state_size(self) -> int:
        return self.frontend.state_size + self.encoder.state_size

    @property
    def decoder_state_size(self) -> int:
        return self.decoder.state_size + self.head.state_size

    def encoder_step(self, pcm: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``pcm (B, HOP)``, ``state (B, encoder_state_size)`` → signs ``(B, bits)``, new state.

        State layout: the previous frame's samples, then each encoder convolution's buffer.
        """
        previous, *conv_states = torch.split(
            state, [self.frontend.state_size, *self.encoder.state_sizes], dim=1)
        mel, previous = self.frontend.step(pcm, previous)
        features, conv_states = self.encoder.step(self.encoder_in(mel), conv_states)
        signs = self.quantizer.signs(self.quantizer.project(features))
        return signs, torch.cat([previous, *conv_states], dim=1)

    def decoder_step(self, signs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``signs (B, bits)`` (zeros = missing), ``state (B, decoder_state_size)`` → ``(B, HOP)``, state.

        Returns output chunk j-1-lookahead when fed code j (see the module docstring). State layout:
        each decoder convolution's buffer, then the head's (the iSTFT frames' overlap past this
        chunk, or the synthesiser's state).
        """
        *conv_states, head_state = torch.split(
            state, [*self.decoder.state_sizes, self.head.state_size], dim=1)
        x, conv_states = self.decoder.step(self.quantizer.dequantize(signs), conv_states)
        chunk, head_state = self.head.step(x, head_state)
        return chunk, torch.cat([*conv_states, head_state], dim=1)

    # ---- facts ---------------------------------------------------------------------------

    def macs_per_frame(self) -> dict[str, int]:
        """Multiply-adds per 20 ms frame of the streaming encoder and decoder."""
        c = self.config
        encoder = (self.frontend.macs_per_frame() + c.n_mels * c.dim
                   + self.encoder.macs_per_frame() + c.dim * c.bits)
        decoder = c.bits * c.dim + self.decoder.macs_per_frame() + self.head.macs_per_frame()
        return {"encoder": encoder, "decoder": decoder, "total": encoder + decoder}


def algorithmic_latency_ms(model: FocalCodecModel) -> float:
    """Frame + encoder look-ahead + window overlap + decoder look-ahead, in milliseconds."""
    return 1000.0 * (HOP + ENCODER_LOOKAHEAD_SAMPLES + model.delay_samples) / 16000
