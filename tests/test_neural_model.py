"""The neural codec model: streaming equals whole-utterance, causality, bit budgets, size."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codec.neural.config import HOP, ModelConfig, load_config_file
from codec.neural.head import overlap_add, overlap_add_step
from codec.neural.model import FocalCodecModel, algorithmic_latency_ms

CONFIGS = Path(__file__).resolve().parent.parent / "codec" / "neural" / "configs"


def tiny_model(seed: int = 0, phase_hidden: int = 0, synthesis_hop: int = HOP,
               head: str = "istft") -> FocalCodecModel:
    """The tiny random model; ``phase_hidden`` adds the head's phase MLP and ``synthesis_hop``
    a finer synthesis grid, their zero-initialised output layers made non-zero; ``head`` picks
    the iSTFT or the source-filter head (with a decoder teacher head)."""
    torch.manual_seed(seed)
    config = {**load_config_file(CONFIGS / "tiny.yaml")["model"], "phase_hidden": phase_hidden,
              "synthesis_hop": synthesis_hop, "head": head,
              "decoder_teacher": head == "source_filter"}
    model = FocalCodecModel(ModelConfig.from_dict(config)).eval()
    if head == "source_filter":   # parameters that vary from frame to frame, voiced and not
        torch.nn.init.normal_(model.head.out.weight, std=0.05)
    if phase_hidden:
        torch.nn.init.normal_(model.head.phase_mlp[2].weight, std=0.5)
    if synthesis_hop < HOP:
        torch.nn.init.normal_(model.head.later.weight, std=0.5)
    return model


def speechlike(frames: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames * HOP) / 16000
    return (0.3 * torch.sin(2 * torch.pi * 180 * t) * torch.sin(2 * torch.pi * 3 * t)
            + 0.05 * torch.randn(frames * HOP, generator=g))[None]


def stream(model: FocalCodecModel, audio: torch.Tensor, codes: torch.Tensor | None = None):
    """Run the streaming steps frame by frame; optionally decode given codes instead."""
    frames = audio.shape[1] // HOP
    es = torch.zeros(1, model.encoder_state_size)
    ds = torch.zeros(1, model.decoder_state_size)
    out_codes, out_pcm = [], []
    for t in range(frames):
        c, es = model.encoder_step(audio[:, t * HOP:(t + 1) * HOP], es)
        out_codes.append(c)
        y, ds = model.decoder_step(c if codes is None else codes[:, t], ds)
        out_pcm.append(y)
    return torch.stack(out_codes, 1), torch.cat(out_pcm, 1)


@torch.no_grad()
@pytest.mark.parametrize("phase_hidden, synthesis_hop, head",
                         [(0, HOP, "istft"), (8, HOP, "istft"), (0, HOP // 2, "istft"),
                          (8, HOP // 4, "istft"), (0, HOP, "source_filter")])
def test_streaming_equals_whole_utterance(phase_hidden: int, synthesis_hop: int, head: str):
    model = tiny_model(phase_hidden=phase_hidden, synthesis_hop=synthesis_hop, head=head)
    audio = speechlike(40)
    codes = model.encode(audio)
    assert codes.shape == (1, 40, 16) and set(codes.unique().tolist()) == {-1.0, 1.0}
    whole = model.decode(codes)
    assert whole.shape == audio.shape
    s_codes, s_pcm = stream(model, audio)
    assert torch.equal(s_codes, codes)
    assert (s_pcm - whole).abs().max() < 1e-4 * max(1.0, float(whole.abs().max()))
    assert whole.abs().max() > 1e-4  # not trivially zero


@torch.no_grad()
@pytest.mark.parametrize("synthesis_hop", [HOP, HOP // 2])
def test_streaming_equals_whole_with_partial_and_missing_codes(synthesis_hop: int):
    model, audio = tiny_model(synthesis_hop=synthesis_hop), speechlike(30)
    codes = model.encode(audio)
    codes[:, :, 12:] = 0          # focal-600
    codes[:, 7] = 0               # a missing frame
    _, s_pcm = stream(model, audio, codes)
    assert (s_pcm - model.decode(codes)).abs().max() < 1e-4


@torch.no_grad()
def test_code_of_frame_t_ignores_audio_after_t():
    model, audio = tiny_model(), speechlike(30)
    t = 12
    changed = audio.clone()
    changed[:, (t + 1) * HOP:] = torch.randn(1, audio.shape[1] - (t + 1) * HOP)
    a, b = model.encode(audio), model.encode(changed)
    assert torch.equal(a[:, :t + 1], b[:, :t + 1])
    assert not torch.equal(a[:, t + 1:], b[:, t + 1:])  # the change is visible afterwards


@torch.no_grad()
@pytest.mark.parametrize("synthesis_hop", [HOP, HOP // 2])
def test_decoder_looks_ahead_exactly_one_code(synthesis_hop: int):
    """Output chunk j-2 depends on codes up to j: changing code j leaves earlier chunks alone.

    A finer synthesis grid keeps the latency: its frames end where the one-frame head's do."""
    model, audio = tiny_model(synthesis_hop=synthesis_hop), speechlike(20)
    codes = model.encode(audio)
    j = 10
    other = codes.clone()
    other[:, j:] = -other[:, j:]
    a, b = model.decode(codes), model.decode(other)
    first_affected = j * HOP  # chunk j of the output = input chunk j - 2
    assert torch.equal(a[:, :first_affected], b[:, :first_affected])
    assert not torch.equal(a[:, first_affected:first_affected + HOP], b[:, first_affected:first_affected + HOP])
    assert model.delay_samples == 2 * HOP


@pytest.mark.parametrize("per_step", [1, 2, 4])
def test_overlap_add_of_hann_frames_reconstructs_constant(per_step: int):
    scale = 2 / (2 * per_step)  # what the head multiplies its window by
    frames = (scale * torch.hann_window(2 * HOP, periodic=True)).expand(1, 6, per_step, 2 * HOP)
    y = overlap_add(frames)
    assert y.shape == (1, 6 * HOP)
    assert torch.allclose(y[:, 2 * HOP:], torch.ones(1, 4 * HOP), atol=1e-6)  # past the ramp-up


@pytest.mark.parametrize("per_step", [1, 2])
def test_overlap_add_step_by_step_equals_whole(per_step: int):
    frames = torch.randn(2, 7, per_step, 2 * HOP)
    tail, chunks = torch.zeros(2, 2 * HOP - HOP // per_step), []
    for t in range(7):
        chunk, tail = overlap_add_step(tail, frames[:, t])
        chunks.append(chunk)
    assert torch.allclose(torch.cat(chunks, 1), overlap_add(frames), atol=1e-6)


@torch.no_grad()
def test_finer_synthesis_grid_starts_as_the_shifted_one_frame_spectrum():
    """A grown head's later frame is its first frame's spectrum moved by the frame offset: the
    same windowed signal, circularly shifted."""
    one = tiny_model(seed=2)
    torch.manual_seed(2)
    config = ModelConfig.from_dict({**one.config.to_dict(), "synthesis_hop": HOP // 2})
    grown = FocalCodecModel(config).eval()
    missing = grown.load_state_dict(one.state_dict(), strict=False).missing_keys
    assert missing == ["head.later.weight", "head.later.bias"]
    x = torch.randn(3, config.dim)
    first, later = grown.head(x).unbind(-2)
    one_frame = one.head(x)[:, 0]
    assert torch.allclose(first, 0.5 * one_frame, atol=1e-7)
    window = torch.hann_window(2 * HOP, periodic=True)
    seen = (window > 0.05) & (torch.roll(window, -HOP // 2) > 0.05)  # undo the windows there
    unwindowed = torch.roll(one_frame / window, -HOP // 2, dims=-1)
    assert torch.allclose((later / (0.5 * window))[:, seen], unwindowed[:, seen], atol=1e-4)
    extra = grown.macs_per_frame()["decoder"] - one.macs_per_frame()["decoder"]
    assert extra == config.dim * 2 * 321 + 2 * 321 * 2 * HOP


@torch.no_grad()
def test_phase_mlp_starts_as_the_linear_head_it_grows_from():
    linear = tiny_model(seed=2)
    torch.manual_seed(2)
    config = ModelConfig.from_dict({**linear.config.to_dict(), "phase_hidden": 8})
    grown = FocalCodecModel(config).eval()
    missing = grown.load_state_dict(linear.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("head.phase_mlp.") for k in missing)
    codes = linear.encode(speechlike(12))
    assert torch.equal(grown.decode(codes), linear.decode(codes))
    extra = grown.macs_per_frame()["decoder"] - linear.macs_per_frame()["decoder"]
    assert extra == 8 * (config.dim + 321)


def test_base_config_fits_the_budget():
    config = ModelConfig.from_dict(load_config_file(CONFIGS / "base.yaml")["model"])
    macs = FocalCodecModel(config).macs_per_frame()
    assert macs["total"] == macs["encoder"] + macs["decoder"]
    assert 1e6 < macs["total"] <= 25e6
    assert algorithmic_latency_ms(FocalCodecModel(config)) == 60.0


@pytest.mark.parametrize("bad, message", [
    ({"dim": 0}, "dim"), ({"focal_kernel": 4}, "odd"), ({"bit_options": [16, 20]}, "bit_options"),
    ({"bogus": 1}, "unknown"), ({"phase_hidden": -1}, "phase_hidden"),
    ({"synthesis_hop": 100}, "synthesis_hop"), ({"synthesis_hop": 0}, "synthesis_hop"),
    ({"decoder_lookahead": 2}, "decoder_lookahead"),
])
def test_bad_model_config_is_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict(bad)


def test_wrong_audio_length_is_rejected():
    with pytest.raises(ValueError, match="multiple of 320"):
        tiny_model().encode(torch.zeros(1, 1000))
