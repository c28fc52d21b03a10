"""bench/valid_dnsmos.py: candidates score on a corpus split, averaged ones included, bad input refused."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

from codec.resample import resample
from tests.test_neural_model import tiny_model
from tests.utils import read_wav

SPEC = importlib.util.spec_from_file_location(
    "bench_valid_dnsmos", Path(__file__).resolve().parent.parent / "bench" / "valid_dnsmos.py")
bench = sys.modules["bench_valid_dnsmos"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


@pytest.fixture(scope="module")
def setup(speech_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two valid clips of real speech and two tiny random checkpoints."""
    d = tmp_path_factory.mktemp("valid")
    pcm, rate = read_wav(speech_wav)
    pcm = resample(pcm, rate, 16000)
    rows = []
    for i, clip in enumerate((pcm[: len(pcm) // 2], pcm[len(pcm) // 2:])):
        sf.write(d / f"c{i}.wav", clip, 16000, subtype="PCM_16")
        rows.append({"path": f"c{i}.wav", "split": "valid"})
    rows.append({"path": "c0.wav", "split": "train"})
    (d / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for seed in (1, 2):
        model = tiny_model(seed=seed)
        torch.save({"model": model.state_dict(), "config": {"model": model.config.to_dict()},
                    "step": seed}, d / f"m{seed}.pt")
    return d


def test_candidates_single_and_averaged_are_scored_and_paired(setup: Path, capsys):
    out = setup / "scores.json"
    assert bench.main([f"one={setup / 'm1.pt'}", f"mean={setup / 'm1.pt'}+{setup / 'm2.pt'}",
                       "--manifest", str(setup / "manifest.jsonl"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 clips of") and "| one |" in text and "| mean |" in text
    assert "| +0.000 | +0.000 … +0.000 |" in text.splitlines()[-2]  # the first against itself
    saved = json.loads(out.read_text())
    for name in ("one", "mean"):
        assert [row["path"] for row in saved["scores"][name]] == ["c0.wav", "c1.wav"]
        assert all(0 < row["ovrl"] < 5 for row in saved["scores"][name])
    assert saved["scores"]["one"] != saved["scores"]["mean"]


def test_pghi_rows_follow_each_candidate(setup: Path, capsys):
    assert bench.main([f"one={setup / 'm1.pt'}", "--pghi",
                       "--manifest", str(setup / "manifest.jsonl")]) == 0
    rows = [line.split(" | ")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("| one")]
    assert rows == ["| one", "| one + PGHI phase", "| one + PGHI phase, frame-causal"]


def test_baseline_codecs_are_scored_beside_the_candidates(setup: Path, capsys):
    assert bench.main([f"one={setup / 'm1.pt'}", "--codecs", "codec2-700c",
                       "--manifest", str(setup / "manifest.jsonl")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| one", "| codec2-700c"]
    assert "| - | - |" not in rows[-1]  # paired against the first candidate, clip by clip


@pytest.mark.parametrize("args, message", [(["m1.pt"], "NAME=CHECKPOINT"),
                                           (["x={d}/nothing.pt"], "no such checkpoint"),
                                           (["x={d}/m1.pt", "--codecs", "codec9"], "unknown codec")])
def test_bad_candidates_are_refused(setup: Path, args: list[str], message: str, capsys):
    with pytest.raises(SystemExit):
        bench.main([arg.format(d=setup) for arg in args]
                   + ["--manifest", str(setup / "manifest.jsonl")])
    assert message in capsys.readouterr().err
