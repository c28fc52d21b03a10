"""The focalcall neural codec: causal encoder → binary spherical quantizer → causal decoder.

Timing (HOP = 320 samples = 20 ms, frame t = samples ``[HOP*t, HOP*(t+1))``):

- Encoder: code t is computed from samples up to the end of frame t (analysis window
  ``[HOP*(t-1), HOP*(t+1))``); encoder look-ahead is zero.
- Decoder: causal over codes. With ``decoder_lookahead = 1`` (the default) its output at step j
  is synthesis frame j-1, i.e. it sees one code beyond the frame it synthesises; with 0 it is
  synthesis frame j. The decoder's layers are the same either way: only the training target
  moves.
- Overlap-add: output chunk j = original chunk j-1-lookahead, so output lags input by
  ``delay_samples = HOP + lookahead*HOP`` (20 ms window overlap + 20 ms look-ahead). With the
  20 ms frame that makes 60 ms algorithmic latency (40 ms without the look-ahead).

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
from codec.neural.head import ISTFTHead, overlap_add, overlap_add_step
from codec.neural.quantizer import BinarySphericalQuantizer

ENCODER_LOOKAHEAD_SAMPLES = 0


@dataclass
class ForwardOutput:
    """Everything one training forward pass produces."""

    features: torch.Tensor   # (B, T, C) encoder output
    u: torch.Tensor          # (B, T, bits) unit vectors before the sign
    codes: torch.Tensor      # (B, T, bits) masked signs (straight-through)
    frames: torch.Tensor     # (B, T, K, WINDOW) the head's windowed synthesis frames
    audio: torch.Tensor      # (B, T*HOP) decoded audio, lagging the input by delay_samples


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
        self.head = ISTFTHead(c.dim, c.phase_hidden, c.synthesis_hop)
        # Training only: maps encoder features to the teacher's space for distillation.
        self.distill_head = nn.Linear(c.dim, TEACHER_DIM)

    # ---- whole sequence ------------------------------------------------------------------

    def encode_features(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, T*HOP)`` → ``(B, T, C)`` causal encoder features."""
        return self.encoder(self.encoder_in(self.frontend(audio)))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, T*HOP)`` → ``(B, T, bits)`` signs in {-1, +1}."""
        return self.quantizer.signs(self.quantizer.project(self.encode_features(audio)))

    def synthesis_frames(self, signs: torch.Tensor) -> torch.Tensor:
        """``(B, T, bits)`` signs in {-1, 0, +1} → the head's windowed frames ``(B, T, K, WINDOW)``."""
        return self.head(self.decoder(self.quantizer.dequantize(signs)))

    def decode(self, signs: torch.Tensor) -> torch.Tensor:
        """``(B, T, bits)`` signs in {-1, 0, +1} (all-zero frame = missing) → ``(B, T*HOP)``.

        The output lags the encoder's input by :attr:`delay_samples`.
        """
        return overlap_add(self.synthesis_frames(signs))

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> ForwardOutput:
        """Training pass. ``audio (B, T*HOP)``; ``mask (B, T, bits)`` keeps bits (1) or drops them."""
        features = self.encode_features(audio)
        u = self.quantizer.project(features)
        codes = self.quantizer.quantize(u, mask)
        frames = self.synthesis_frames(codes)
        return ForwardOutput(features, u, codes, frames, overlap_add(frames))

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
        return self.decoder.state_size + self.head.tail_size

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

        Returns output chunk j-1-lookahead when fed code j (see the module docstring). State layout: each
        decoder convolution's buffer, then what the synthesis frames so far add past this chunk.
        """
        *conv_states, tail = torch.split(
            state, [*self.decoder.state_sizes, self.head.tail_size], dim=1)
        x, conv_states = self.decoder.step(self.quantizer.dequantize(signs), conv_states)
        chunk, tail = overlap_add_step(tail, self.head(x))     # head: (B, K, WINDOW)
        return chunk, torch.cat([*conv_states, tail], dim=1)

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
