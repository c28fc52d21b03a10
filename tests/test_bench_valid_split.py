"""bench/valid_split.py: candidates and codecs scored on a corpus split with paired differences."""
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
SPEC = importlib.util.spec_from_file_location("bench_valid_split", ROOT / "bench" / "valid_split.py")
bench = sys.modules["bench_valid_split"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


@pytest.fixture(scope="module")
def setup(speech_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three valid clips of real speech in two corpora, and two tiny random checkpoints."""
    d = tmp_path_factory.mktemp("valid")
    pcm, rate = read_wav(speech_wav)
    pcm = resample(pcm, rate, 16000)
    third = len(pcm) // 3
    for corpus, parts in (("a", (0, 1)), ("b", (2,))):
        (d / corpus).mkdir()
        rows = []
        for i in parts:
            sf.write(d / corpus / f"c{i}.wav", pcm[i * third:(i + 1) * third], 16000, subtype="PCM_16")
            rows.append({"path": f"c{i}.wav", "split": "valid", "language": "en", "text": None})
        (d / corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for seed in (1, 2):
        model = tiny_model(seed=seed, head="source_filter" if seed == 2 else "istft")
        torch.save({"model": model.state_dict(), "config": {"model": model.config.to_dict()},
                    "step": seed}, d / f"m{seed}.pt")
    return d


def test_candidates_and_codecs_are_scored_and_paired(setup: Path, capsys):
    out = setup / "scores.json"
    args = [f"one={setup / 'm1.pt'}", f"sf={setup / 'm2.pt'}", "--manifest", str(setup / "a" / "manifest.jsonl"),
            "--manifest", str(setup / "b" / "manifest.jsonl"), "--metrics", "stoi", "--codecs",
            "codec2-3200", "--bits", "8", "--json", str(out)]
    assert bench.main(args) == 0
    printed = capsys.readouterr().out
    assert "3 clips" in printed and "| codec2-3200 |" in printed and "at 8 bits" in printed
    scores = json.loads(out.read_text())["scores"]
    assert set(scores) == {"one", "sf", "codec2-3200"}
    assert all(len(rows) == 3 and 0 <= rows[0]["stoi"] <= 1 for rows in scores.values())
    assert scores["codec2-3200"][0]["stoi"] > scores["one"][0]["stoi"]  # a real codec vs noise


def test_bad_input_is_refused(setup: Path):
    with pytest.raises(SystemExit):
        bench.main([f"x={setup / 'missing.pt'}"])
    with pytest.raises(SystemExit):
        bench.main(["--codecs", "codec9", "--manifest", str(setup / "a" / "manifest.jsonl")])
    with pytest.raises(SystemExit):
        bench.main(["--manifest", str(setup / "a" / "manifest.jsonl")])
