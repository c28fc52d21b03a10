"""The evaluation harness, its report and CLI, and the benchmark's BENCHMARKS.md section."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from codec.data.devset import ensure_devset
from codec.data.manifest import Entry, ManifestWriter
from codec.evaluation import harness, report
from codec.evaluation.cli import register_eval
from codec.registry import get_codec
from codec.wavio import read_wav, write_wav
from tests.utils import SENTENCES, espeak_wav

RATE = 16000


@pytest.fixture(scope="module")
def speech_set(tmp_path_factory):
    """A two-clip evaluation set in the dev-set format."""
    root = tmp_path_factory.mktemp("set")
    (root / "clips").mkdir()
    with ManifestWriter(root) as writer:
        for i, text in enumerate(SENTENCES):
            pcm = read_wav(espeak_wav(root / f"raw{i}.wav", text), RATE) * 0.5
            write_wav(root / f"clips/{i}.wav", pcm, RATE)
            writer.append(Entry(path=f"clips/{i}.wav", speaker="espeak", source="espeak",
                                language="en", duration=len(pcm) / RATE, text=text, split="dev"))
    return root


@pytest.fixture(scope="module")
def results(speech_set, tmp_path_factory):
    wavs = tmp_path_factory.mktemp("wavs")
    config = harness.EvalConfig(codecs=("opus-8k", "codec2-700c"), set_dir=speech_set,
                                metrics=("pesq", "stoi"), save_wavs=wavs)
    return harness.evaluate(config), wavs


def test_results_hold_every_codec_clip_and_metric(results):
    res, _ = results
    assert res["clips"] == 2 and res["metrics"] == ["pesq_wb", "pesq_nb", "stoi"]
    assert list(res["codecs"]) == ["opus-8k", "codec2-700c"]
    assert "reference" not in res  # no reference-free metric asked for
    for name, codec in res["codecs"].items():
        assert len(codec["clips"]) == 2
        assert codec["algorithmic_latency_ms"] == get_codec(name).algorithmic_latency_ms
        assert codec["rtf_encode"] > 0 and codec["rtf_decode"] > 0
        for column in res["metrics"]:
            assert codec["mean"][column] == pytest.approx(np.mean([c[column] for c in codec["clips"]]))


def test_scores_order_the_codecs_and_bitrates_are_measured(results):
    res, _ = results
    opus, c2 = res["codecs"]["opus-8k"], res["codecs"]["codec2-700c"]
    assert opus["mean"]["stoi"] > c2["mean"]["stoi"] > 0.5
    assert opus["mean"]["pesq_wb"] > c2["mean"]["pesq_wb"]
    assert c2["payload_bitrate"] == pytest.approx(800.0, rel=0.01)
    assert opus["payload_bitrate"] == pytest.approx(8000.0, rel=0.3)


def test_decoded_clips_are_saved_aligned_with_the_reference(results, speech_set):
    _, wavs = results
    for name in ("opus-8k", "codec2-700c"):
        for i in range(2):
            saved = sf.info(str(wavs / name / f"{i}.wav"))
            ref = sf.info(str(speech_set / f"clips/{i}.wav"))
            assert (saved.samplerate, saved.frames) == (RATE, ref.frames)


def test_table_markdown_and_json(results, tmp_path):
    res, _ = results
    text = report.table(res)
    assert "opus-8k" in text and "codec2-700c" in text and "STOI" in text and "PESQ-NB" in text
    assert "DNSMOS" not in text  # columns nobody measured are left out
    md = report.markdown(res).splitlines()
    assert len(md) == 4 and md[0].startswith("| codec |") and md[1].startswith("| --- |")
    report.write_json(res, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["codecs"].keys() == res["codecs"].keys()


def test_loop_retries_are_counted_per_codec():
    clips = lambda *flags: {"clips": [{"asr_loop_retry": f} for f in flags]}
    res = {"codecs": {"a": clips(False, True, True), "b": clips(False, False), "c": clips()},
           "reference": clips(True)}
    assert report.loop_retries(res) == ("Clips Whisper looped on and transcribed again: a 2, "
                                        "reference (clean) 1; none for the others.")
    res = {"codecs": {"b": clips(False)}}
    assert report.loop_retries(res) == "Whisper looped on no clip of any codec."


def test_summary_pools_wer_over_words():
    rows = [{"wer": 1.0, "wer_errors": 1, "wer_words": 1}, {"wer": 0.0, "wer_errors": 0, "wer_words": 9},
            {"wer": None}]
    assert harness.summarize(rows, ["wer"]) == {"wer": pytest.approx(0.1)}


def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    codec = parser.add_subparsers(dest="command").add_parser("codec").add_subparsers(dest="sub")
    register_eval(codec)
    return parser.parse_args(argv)


def test_cli_prints_one_table_for_several_codecs(speech_set, tmp_path, capsys):
    out = tmp_path / "res.json"
    args = cli(["codec", "eval", "--codec", "opus-6k", "--codec", "codec2-3200", "--set", str(speech_set),
                "--metrics", "stoi", "--limit", "1", "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "opus-6k" in printed and "codec2-3200" in printed and "STOI" in printed
    assert json.loads(out.read_text())["clips"] == 1


def test_cli_errors_are_clear(speech_set, tmp_path):
    args = cli(["codec", "eval", "--codec", "no-such-codec", "--set", str(speech_set), "--metrics", "stoi"])
    with pytest.raises(ValueError, match="unknown codec"):
        args.func(args)
    args = cli(["codec", "eval", "--codec", "opus-6k", "--set", str(speech_set), "--metrics", "stoi,bleu"])
    with pytest.raises(ValueError, match="unknown metric"):
        args.func(args)
    with pytest.raises(FileNotFoundError, match="not a dev set"):
        ensure_devset(tmp_path / "empty")


def test_benchmark_replaces_only_its_own_section(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("mdsection", Path(__file__).parents[1] / "bench" / "mdsection.py")
    mdsection = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mdsection)
    heading = "## Baseline codecs on the dev set"
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Transport\n\nkeep me\n")
    mdsection.update_section(md, heading, "table one")
    mdsection.update_section(md, heading, "table two")
    text = md.read_text()
    assert "keep me" in text and "table two" in text and "table one" not in text
    assert text.count(heading) == 1
    md.write_text(f"# B\n\n{heading}\n\nold\n\n## Later\n\nstays\n")
    mdsection.update_section(md, heading, "new")
    assert md.read_text() == f"# B\n\n{heading}\n\nnew\n\n## Later\n\nstays\n"


def test_benchmark_breaks_results_down_by_language(results):
    from codec.evaluation.report import by_language

    res, _ = results
    lines = by_language(res).splitlines()
    assert lines[0].startswith("| codec | STOI en (2) |") and "DNSMOS en (2)" in lines[0]
    opus = lines[2].strip("| ").split(" | ")
    assert opus[0] == "opus-8k" and float(opus[1]) == pytest.approx(res["codecs"]["opus-8k"]["mean"]["stoi"], abs=1e-3)
    assert opus[3] == "-"  # DNSMOS was not measured


def test_neural_bench_merges_baselines_and_renders_the_ablation(results):
    import copy
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench_neural", Path(__file__).parents[1] / "bench" / "neural.py")
    neural = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(neural)
    res, _ = results
    row = res["codecs"]["opus-8k"]
    earlier = dict(copy.deepcopy(res), codecs={name: row for name in neural.BASELINES + ("opus-12k",)})
    fresh = dict(copy.deepcopy(res), codecs={"focal-800": row})
    merged = neural.merge_baselines(copy.deepcopy(fresh), earlier)
    assert list(merged["codecs"]) == ["focal-800", *neural.BASELINES]
    with pytest.raises(ValueError, match="other metrics"):
        neural.merge_baselines(copy.deepcopy(fresh), dict(earlier, metrics=["stoi"]))
    table = neural.ablation_table(fresh, fresh)
    assert "| focal-800, with teacher |" in table and "| focal-800, no teacher |" in table
