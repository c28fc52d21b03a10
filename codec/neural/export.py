"""Ship a trained checkpoint: fp16 PyTorch weights plus streaming encoder/decoder ONNX files.

The ONNX graphs are the streaming steps with their state as explicit inputs and outputs:

- ``focal_encoder.onnx``: ``pcm (N, 320)``, ``state (N, S_enc)`` → ``code (N, bits)`` (±1),
  ``state_out``;
- ``focal_decoder.onnx``: ``code (N, bits)`` (±1, 0 = bit not sent, all 0 = missing frame),
  ``state (N, S_dec)`` → ``pcm (N, 320)``, ``state_out``.

States start as zeros. Opset 17 (supported by onnxruntime-web 1.30); exported with the
TorchScript exporter (``dynamo=False``), which needs no onnxscript. The shipped weights are
rounded to fp16 first and the ONNX files are exported from those rounded weights, so the
PyTorch and ONNX artefacts are the same model.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from codec.neural.config import HOP, SAMPLE_RATE, ModelConfig
from codec.neural.model import ENCODER_LOOKAHEAD_SAMPLES, FocalCodecModel
from codec.neural.model import algorithmic_latency_ms

OPSET = 17
WEIGHTS_FILE = "focal.pt"
META_FILE = "focal.json"


class _EncoderStep(nn.Module):
    def __init__(self, model: FocalCodecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pcm: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encoder_step(pcm, state)


class _DecoderStep(nn.Module):
    def __init__(self, model: FocalCodecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, code: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.decoder_step(code, state)


def load_model(path: Path) -> tuple[FocalCodecModel, dict]:
    """A model from a training checkpoint or shipped weights file (both hold model + config)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path} is not a focal codec checkpoint (needs 'model' and 'config')")
    config = ckpt["config"]
    model_config = ModelConfig.from_dict(config["model"] if "model" in config else config)
    model = FocalCodecModel(model_config)
    model.load_state_dict({k: v.float() for k, v in ckpt["model"].items()})
    return model.eval(), ckpt


def export_onnx(model: FocalCodecModel, out_dir: Path) -> tuple[Path, Path]:
    """Write the streaming encoder and decoder graphs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    enc_path, dec_path = out_dir / "focal_encoder.onnx", out_dir / "focal_decoder.onnx"
    batch = {0: "batch"}
    # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript; the
    # graphs here are plain tensor code that it exports exactly, so silence the notice.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_EncoderStep(model),
                          (torch.zeros(1, HOP), torch.zeros(1, model.encoder_state_size)),
                          str(enc_path), input_names=["pcm", "state"],
                          output_names=["code", "state_out"], opset_version=OPSET,
                          dynamic_axes={"pcm": batch, "state": batch, "code": batch,
                                        "state_out": batch}, dynamo=False)
        torch.onnx.export(_DecoderStep(model),
                          (torch.zeros(1, model.config.bits),
                           torch.zeros(1, model.decoder_state_size)),
                          str(dec_path), input_names=["code", "state"],
                          output_names=["pcm", "state_out"], opset_version=OPSET,
                          dynamic_axes={"code": batch, "state": batch, "pcm": batch,
                                        "state_out": batch}, dynamo=False)
    return enc_path, dec_path


def load_average(paths: list[Path]) -> tuple[FocalCodecModel, dict]:
    """The mean of several checkpoints' model weights (stochastic weight averaging).

    The checkpoints must hold the same parameters; the result carries the first one's config,
    the latest step and ``averaged_steps``. One path is :func:`load_model` itself.
    """
    model, ckpt = load_model(paths[0])
    if len(paths) == 1:
        return model, ckpt
    first = model.state_dict()
    states, steps = [first], [ckpt.get("step")]
    budget = ckpt.get("budget")
    for path in paths[1:]:
        other, other_ckpt = load_model(path)
        if (other_ckpt.get("step") or 0) >= max(s or 0 for s in steps):
            budget = other_ckpt.get("budget", budget)
        state = other.state_dict()
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ValueError(f"{path} holds another model than {paths[0]}: cannot average them")
        states.append(state)
        steps.append(other_ckpt.get("step"))
    model.load_state_dict({k: torch.stack([s[k] for s in states]).mean(0)
                           if first[k].is_floating_point() else first[k] for k in first})
    known = [s for s in steps if s is not None]
    return model, {**ckpt, "step": max(known) if known else None, "averaged_steps": steps,
                   "budget": budget}


def training_budget(budget: dict, step: int | None) -> dict:
    """What training cost, in the units people compare: steps, hours of audio seen, CPU hours;
    ``*_total`` adds the runs the model grew from (``train.init_from``)."""
    hours = lambda seconds: round(seconds / 3600.0, 2)
    return {"steps": step, "audio_hours": hours(budget.get("audio_s", 0.0)),
            "cpu_hours": hours(budget.get("cpu_s", 0.0)),
            "steps_total": (step or 0) + budget.get("inherited_steps", 0),
            "audio_hours_total": hours(budget.get("audio_s", 0.0) + budget.get("inherited_audio_s", 0.0)),
            "cpu_hours_total": hours(budget.get("cpu_s", 0.0) + budget.get("inherited_cpu_s", 0.0))}


def ship(checkpoints: Path | list[Path], out_dir: Path, note: str = "") -> dict:
    """Round the model of ``checkpoints`` (one, or several averaged) to fp16, save it, export
    ONNX, write ``focal.json``."""
    paths = [checkpoints] if isinstance(checkpoints, Path) else list(checkpoints)
    model, ckpt = load_average(paths)
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in half.items()})
    config = ckpt["config"]
    out_dir.mkdir(parents=True, exist_ok=True)
    # the budget travels with the weights, so a run grown from them (train.init_from) counts it
    torch.save({"model": half, "config": config, "step": ckpt.get("step"),
                "averaged_steps": ckpt.get("averaged_steps"), "budget": ckpt.get("budget")},
               out_dir / WEIGHTS_FILE)
    enc, dec = export_onnx(model, out_dir)
    macs = model.macs_per_frame()
    meta = {
        "encoder_onnx": enc.name, "decoder_onnx": dec.name, "weights": WEIGHTS_FILE,
        "sample_rate": SAMPLE_RATE, "hop": HOP, "bits": model.config.bits,
        "bit_options": model.config.bit_options,
        "encoder_state_size": model.encoder_state_size,
        "decoder_state_size": model.decoder_state_size,
        "delay_samples": model.delay_samples, "encoder_lookahead_samples": ENCODER_LOOKAHEAD_SAMPLES,
        "algorithmic_latency_ms": algorithmic_latency_ms(model), "macs_per_frame": macs,
        "opset": OPSET, "training_step": ckpt.get("step"), "note": note,
    }
    if "averaged_steps" in ckpt:
        meta["averaged_steps"] = ckpt["averaged_steps"]
    if ckpt.get("budget"):
        meta["training_budget"] = training_budget(ckpt["budget"], ckpt.get("step"))
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
