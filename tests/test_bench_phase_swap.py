"""bench/phase_swap.py's recombination: each swap takes magnitude from one signal, phase from the other."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
from scipy.signal import stft

SPEC = importlib.util.spec_from_file_location(
    "bench_phase_swap", Path(__file__).resolve().parent.parent / "bench" / "phase_swap.py")
swap = sys.modules["bench_phase_swap"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(swap)


def spec(x):
    return stft(x, 16000, nperseg=640, noverlap=480)[2][:, 4:-4]  # away from the edges


def test_swapping_a_signal_with_itself_gives_it_back():
    """Every row but the PGHI rebuilds (whose phase comes from the magnitude alone)."""
    ref = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    out = swap.variants(ref, ref)
    assert list(out) == ["reference", *swap.DECODED]
    for name, audio in out.items():
        assert len(audio) == len(ref), name
        if "PGHI" not in name:
            np.testing.assert_allclose(audio[700:-700], ref[700:-700], atol=1e-4, err_msg=name)


def test_each_swap_keeps_the_magnitude_of_one_and_the_phase_of_the_other():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(16000).astype(np.float32) * 0.1
    decoded = (0.5 * np.roll(ref, 37) + 0.02 * rng.standard_normal(16000)).astype(np.float32)
    out = swap.variants(ref, decoded)
    mixed = spec(out["decoded magnitude + reference phase"])
    assert np.mean(np.abs(mixed)) < 0.7 * np.mean(np.abs(spec(ref)))  # the decoded (quieter) magnitude
    # The resynthesis is not exactly consistent, so compare phase agreement, not equality.
    agree_ref = np.mean(np.cos(np.angle(mixed) - np.angle(spec(ref))))
    agree_dec = np.mean(np.cos(np.angle(mixed) - np.angle(spec(decoded))))
    assert agree_ref > 0.5 > agree_dec


def test_the_table_shows_earlier_rows_below_the_new_ones():
    def result(ovrl, weights):
        rows = {name: {"sig": ovrl, "bak": ovrl, "ovrl": ovrl}
                for name in ("reference", "decoded", "codec2-700c")}
        return {"codec": "focal-800", "weights": weights, "clips": 3, "date": "d", "machine": "m",
                "mean": rows}
    text = swap.markdown(result(2.5, "step 2"), "cmd", (Path("old.json"), result(2.0, "step 1")))
    lines = text.splitlines()
    assert lines.index("| decoded | 2.50 | 2.50 | 2.50 |") < lines.index("| decoded, earlier | 2.00 | 2.00 | 2.00 |")
    assert "| reference, earlier" not in text and "`old.json`" in text and "step 1" in text
    assert "| codec2-700c | 2.50" in text and "| codec2-700c, earlier" not in text  # same either way
