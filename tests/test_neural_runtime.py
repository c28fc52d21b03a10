"""ONNX export and the onnxruntime codec: parity with PyTorch, payload format, interface."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.base import CodecError
from codec.neural.config import HOP, ModelConfig
from codec.neural.export import load_model, ship
from codec.neural.model import FocalCodecModel
from codec.neural.runtime import FocalCodec, NeuralModel, codes_per_payload, pack_codes, unpack_codes
from tests.test_neural_model import speechlike, stream, tiny_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=[(0, HOP, "istft"), (8, HOP, "istft"),
                                        (0, HOP // 2, "istft"), (0, HOP, "source_filter")],
                ids=["linear-phase", "phase-mlp", "synthesis-hop-160", "source-filter"])
def shipped(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A tiny random model (the iSTFT head with and without its phase MLP, on the one-frame and
    the 10 ms synthesis grid, and the source-filter head) exported like the real one."""
    d = tmp_path_factory.mktemp("focal")
    phase_hidden, synthesis_hop, head = request.param
    model = tiny_model(seed=3, phase_hidden=phase_hidden, synthesis_hop=synthesis_hop, head=head)
    torch.save({"model": model.state_dict(), "config": {"model": model.config.to_dict()}, "step": 7},
               d / "ckpt.pt")
    ship(d / "ckpt.pt", d / "out", note="test")
    return d / "out"


def test_export_writes_consistent_metadata(shipped: Path):
    meta = json.loads((shipped / "focal.json").read_text())
    model, _ = load_model(shipped / "focal.pt")
    assert meta["encoder_state_size"] == model.encoder_state_size
    assert meta["decoder_state_size"] == model.decoder_state_size
    assert (meta["hop"], meta["bits"], meta["delay_samples"]) == (320, 16, 640)
    assert meta["training_step"] == 7 and meta["algorithmic_latency_ms"] == 60.0
    assert all(v.dtype == torch.float16 for v in torch.load(shipped / "focal.pt")["model"].values()
               if v.is_floating_point())


def test_a_decoder_without_look_ahead_is_exported_and_run_20_ms_earlier(tmp_path: Path):
    model = FocalCodecModel(ModelConfig.from_dict({**tiny_model().config.to_dict(),
                                                   "decoder_lookahead": 0}))
    torch.save({"model": model.state_dict(), "config": {"model": model.config.to_dict()}, "step": 1},
               tmp_path / "ckpt.pt")
    meta = ship(tmp_path / "ckpt.pt", tmp_path / "out", note="test")
    assert (meta["delay_samples"], meta["algorithmic_latency_ms"]) == (HOP, 40.0)
    codec = FocalCodec("focal-800", NeuralModel(tmp_path / "out"))
    assert (codec.delay_samples, codec.algorithmic_latency_ms) == (HOP, 40.0)


def test_export_averages_several_checkpoints_of_one_model(tmp_path: Path):
    models = {"a": (tiny_model(seed=1), 10), "b": (tiny_model(seed=2), 20),
              "grown": (tiny_model(seed=1, phase_hidden=8), 30)}
    for name, (model, step) in models.items():
        torch.save({"model": model.state_dict(), "config": {"model": model.config.to_dict()},
                    "step": step}, tmp_path / f"{name}.pt")
    meta = ship([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "out")
    assert meta["training_step"] == 20 and meta["averaged_steps"] == [10, 20]
    assert json.loads((tmp_path / "out" / "focal.json").read_text())["averaged_steps"] == [10, 20]
    averaged, _ = load_model(tmp_path / "out" / "focal.pt")
    a, b = (models[n][0].state_dict() for n in ("a", "b"))
    for name, value in averaged.state_dict().items():
        assert torch.equal(value, ((a[name] + b[name]) / 2).half().float()), name
    with pytest.raises(ValueError, match="another model"):
        ship([tmp_path / "a.pt", tmp_path / "grown.pt"], tmp_path / "bad")


def test_onnx_matches_pytorch(shipped: Path):
    model, _ = load_model(shipped / "focal.pt")
    onnx = NeuralModel(shipped)
    audio = speechlike(25)
    with torch.no_grad():
        ref_codes, ref_pcm = stream(model, audio)
    es = np.zeros((1, onnx.meta["encoder_state_size"]), np.float32)
    ds = np.zeros((1, onnx.meta["decoder_state_size"]), np.float32)
    pcm = []
    for t in range(25):
        code, es = onnx.encoder.run(None, {"pcm": audio[:, t * 320:(t + 1) * 320].numpy(), "state": es})
        assert np.array_equal(code, ref_codes[:, t].numpy())
        y, ds = onnx.decoder.run(None, {"code": code, "state": ds})
        pcm.append(y)
    scale = max(1.0, float(ref_pcm.abs().max()))
    assert np.abs(np.concatenate(pcm, 1) - ref_pcm.numpy()).max() < 1e-3 * scale


@pytest.mark.parametrize("bits, count, nbytes", [(16, 1, 2), (12, 2, 3), (8, 1, 1)])
def test_payload_round_trip_and_bit_order(bits: int, count: int, nbytes: int):
    assert codes_per_payload(bits) == count
    rng = np.random.default_rng(bits)
    codes = np.where(rng.random((count, 16)) > 0.5, 1.0, -1.0).astype(np.float32)
    payload = pack_codes(codes, bits)
    assert len(payload) == nbytes  # whole bytes, no padding: exactly bits × 50 bit/s
    back = unpack_codes(payload, bits, 16, count)
    assert np.array_equal(back[:, :bits], codes[:, :bits]) and not back[:, bits:].any()
    first = np.full((count, 16), -1.0, np.float32)
    first[0, 0] = 1.0
    assert pack_codes(first, bits)[0] == 0x80  # bit 0 is the most significant bit of byte 0
    if count == 2:  # the second code starts right after the first one's last bit
        second = np.full((2, 16), -1.0, np.float32)
        second[1, 0] = 1.0
        assert pack_codes(second, bits) == bytes([0, 0x08, 0])


def test_codec_interface_and_missing_frames(shipped: Path):
    model = NeuralModel(shipped)
    codecs = {name: FocalCodec(name, model) for name in ("focal-800", "focal-600", "focal-400")}
    assert [c.bitrate for c in codecs.values()] == [800.0, 600.0, 400.0]
    assert [c.frame_samples for c in codecs.values()] == [320, 640, 320]
    c = codecs["focal-600"]
    assert (c.sample_rate, c.frame_samples, c.delay_samples) == (16000, 640, 640)
    assert c.algorithmic_latency_ms == 80.0 and codecs["focal-800"].algorithmic_latency_ms == 60.0
    enc, dec = c.encoder(), c.decoder()
    audio = speechlike(10)[0].numpy()
    for t in range(5):
        payload = enc.encode(audio[t * 640:(t + 1) * 640])
        assert isinstance(payload, bytes) and len(payload) == 3
        out = dec.decode(None if t == 2 else payload)
        assert out.shape == (640,) and out.dtype == np.float32 and np.isfinite(out).all()
    assert len(codecs["focal-400"].encoder().encode(audio[:320])) == 1


def test_focal_600_decodes_like_two_focal_800_frames_with_bits_dropped(shipped: Path):
    """The 40 ms focal-600 frame is two 20 ms codes: same audio as feeding them one by one."""
    model = NeuralModel(shipped)
    enc600, dec600 = FocalCodec("focal-600", model).encoder(), FocalCodec("focal-600", model).decoder()
    audio = speechlike(10)[0].numpy()
    state = np.zeros((1, model.meta["decoder_state_size"]), np.float32)
    for t in range(5):
        payload = enc600.encode(audio[t * 640:(t + 1) * 640])
        out = dec600.decode(payload)
        ref = []
        for code in unpack_codes(payload, 12, model.bits, 2):
            y, state = model.decoder.run(None, {"code": code[None], "state": state})
            ref.append(y[0])
        assert np.array_equal(out, np.concatenate(ref))


def test_bad_input_raises_codec_error(shipped: Path):
    c = FocalCodec("focal-600", NeuralModel(shipped))
    with pytest.raises(CodecError, match="shape"):
        c.encoder().encode(np.zeros(320, np.float32))
    with pytest.raises(CodecError, match="3 bytes"):
        c.decoder().decode(b"\x00\x00")
    with pytest.raises(CodecError, match="beyond 1 codes of 8 bits"):
        unpack_codes(b"\xff\xff", 8, 16, 1)
    with pytest.raises(CodecError, match="unknown focal mode"):
        FocalCodec("focal-9000", c.model)


def test_missing_weights_give_a_clear_error(tmp_path: Path):
    with pytest.raises(CodecError, match="weights missing"):
        NeuralModel(tmp_path)


def test_runtime_does_not_import_torch():
    code = ("import sys, codec.neural.runtime, codec.registry; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_weights_directory_can_be_overridden(shipped: Path, monkeypatch: pytest.MonkeyPatch):
    """$FOCALCALL_NEURAL_WEIGHTS points the registry's focal codecs at another export."""
    from codec.neural import runtime

    monkeypatch.setattr(runtime, "_shared", None)
    monkeypatch.setenv(runtime.WEIGHTS_ENV, str(shipped))
    codec = runtime.make_codec("focal-800")
    assert codec.model.meta == json.loads((shipped / "focal.json").read_text())
    monkeypatch.setattr(runtime, "_shared", None)
    monkeypatch.setenv(runtime.WEIGHTS_ENV, str(shipped / "nope"))
    with pytest.raises(CodecError, match="weights missing"):
        runtime.make_codec("focal-800")
