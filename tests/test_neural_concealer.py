"""Frame-prediction concealment: the next-code predictor, its ONNX export and the decoder's use of it."""
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codec.neural.concealer import FADE_AFTER_FRAMES, FADE_FRAMES, CodeConcealer, CodePredictorModel  # noqa: E402
from codec.neural.predictor import export_predictor, train_predictor  # noqa: E402
from codec.neural.predictor_files import PREDICTOR_META, encoder_fingerprint  # noqa: E402
from codec.neural.runtime import WEIGHTS_DIR, FocalCodec, NeuralModel, pack_codes  # noqa: E402

BITS = 16


def _structured_codes(n_seqs: int, length: int, seed: int) -> list[np.ndarray]:
    """Codes whose next value follows from the last (a bit rotation, sometimes re-drawn)."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_seqs):
        code = rng.choice([-1.0, 1.0], BITS)
        rows = []
        for _ in range(length):
            rows.append(code)
            code = np.roll(code, 1) if rng.random() > 0.05 else rng.choice([-1.0, 1.0], BITS)
        seqs.append(np.array(rows, dtype=np.float32))
    return seqs


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory):
    codes = {"train": _structured_codes(20, 80, 0), "valid": _structured_codes(4, 80, 1)}
    predictor, report = train_predictor(codes, steps=300, hidden=32, length=24, batch=16)
    # it learnt the structure, through bursts (5 % of the codes are redrawn: no one guesses those)
    assert report.model > 0.75 and report.model > report.repeat_last + 0.25
    out = tmp_path_factory.mktemp("weights")
    if (WEIGHTS_DIR / "focal.json").exists():
        for f in WEIGHTS_DIR.iterdir():
            if f.suffix in (".json", ".onnx") and not f.name.startswith("focal_predictor"):
                shutil.copy(f, out / f.name)
    export_predictor(predictor, report, out, note="test")
    return out


def test_onnx_predictor_continues_a_sequence(predictor_dir):
    model = CodePredictorModel.load(predictor_dir)
    assert model is not None and model.bits == BITS
    seq = _structured_codes(1, 40, 7)[0]
    concealer = CodeConcealer(model, BITS)
    hits = 0
    for t in range(30):
        concealer.observe(seq[t])
        if t >= 10:
            guess = concealer.conceal(BITS)
            hits += int((np.sign(guess) == seq[t + 1]).sum())
            concealer.observe(seq[t + 1])  # back on real codes
    assert hits / (20 * BITS) > 0.75  # repeating the last code: about half


def test_long_bursts_fade_to_silence_and_recover():
    concealer = CodeConcealer(None, BITS)
    gains = []
    for _ in range(FADE_AFTER_FRAMES + FADE_FRAMES + 2):
        assert not concealer.conceal(BITS).any()  # no predictor: "no code"
        gains.append(concealer.gain())
    assert gains[:FADE_AFTER_FRAMES] == [1.0] * FADE_AFTER_FRAMES
    assert gains[-1] == 0.0 and all(a >= b for a, b in zip(gains, gains[1:]))
    concealer.observe(np.ones(BITS, dtype=np.float32))
    assert concealer.gain() == 1.0


def test_decoder_conceals_with_predicted_codes(predictor_dir):
    if not (predictor_dir / "focal.json").exists():
        pytest.skip("no shipped neural weights in this checkout")
    plain = FocalCodec("focal-800", _without_predictor(predictor_dir))
    predicted = FocalCodec("focal-800", NeuralModel(predictor_dir))
    assert predicted.decoder().concealer.model is not None
    seq = _structured_codes(1, 20, 3)[0]
    outs = {}
    for name, codec in (("plain", plain), ("predicted", predicted)):
        dec = codec.decoder()
        for code in seq[:10]:
            dec.decode(pack_codes(code, BITS))
        outs[name] = np.concatenate([dec.decode(None) for _ in range(3)])
    assert np.isfinite(outs["predicted"]).all() and outs["predicted"].shape == (3 * 320,)
    assert not np.allclose(outs["plain"], outs["predicted"])


def _without_predictor(predictor_dir):
    model = NeuralModel(predictor_dir)
    model.predictor = None
    return model


def test_modes_say_what_stands_in_for_a_missing_code(predictor_dir):
    code = np.where(np.arange(BITS) % 3 == 0, 1.0, -1.0).astype(np.float32)
    repeat = CodeConcealer(CodePredictorModel.load(predictor_dir), BITS, "repeat")
    assert repeat.model is None and not repeat.conceal(BITS).any()  # nothing heard yet: no code
    repeat.observe(code)
    assert np.array_equal(repeat.conceal(BITS), code) and np.array_equal(repeat.conceal(BITS), code)
    assert CodeConcealer(CodePredictorModel.load(predictor_dir), BITS).mode == "predict"
    assert CodeConcealer(None, BITS).mode == "missing"
    with pytest.raises(ValueError, match="needs a shipped predictor"):
        CodeConcealer(None, BITS, "predict")
    with pytest.raises(ValueError, match="unknown concealment mode"):
        CodeConcealer(None, BITS, "guess")


def test_the_shipped_predictor_was_trained_on_the_shipped_encoder():
    meta = json.loads((WEIGHTS_DIR / PREDICTOR_META).read_text())
    assert meta.get("encoder_sha256") == encoder_fingerprint(WEIGHTS_DIR), \
        "the codec's encoder changed: retrain the concealer (focalcall codec train-concealer)"
    assert CodePredictorModel.load(WEIGHTS_DIR) is not None


def test_a_predictor_of_another_encoder_is_not_used(predictor_dir, tmp_path):
    for f in predictor_dir.iterdir():
        shutil.copy(f, tmp_path / f.name)
    meta = json.loads((tmp_path / PREDICTOR_META).read_text())
    (tmp_path / PREDICTOR_META).write_text(json.dumps({**meta, "encoder_sha256": "0" * 64}))
    assert CodePredictorModel.load(predictor_dir) is not None and CodePredictorModel.load(tmp_path) is None
