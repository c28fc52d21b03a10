"""Codec training: config validation, loss goes down, the CLI trains/checkpoints/resumes/exports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec.neural.config import load_config_file
from codec.neural.envelope import ORDER
from codec.neural.train import RunConfig, StageConfig, Trainer, train_from_config
from codec.resample import resample
from tests.utils import read_wav

CONFIGS = Path(__file__).resolve().parent.parent / "codec" / "neural" / "configs"


def tiny_config(tmp_path: Path, manifest: Path | None = None) -> RunConfig:
    data = load_config_file(CONFIGS / "tiny.yaml")
    data["train"]["run_dir"] = str(tmp_path / "run")
    if manifest is not None:
        data["data"]["manifest"] = str(manifest)
    return RunConfig.from_dict(data)


@pytest.fixture(scope="module")
def corpus(speech_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-clip corpus in the manifest format, from the shared espeak-ng speech."""
    d = tmp_path_factory.mktemp("corpus")
    pcm, rate = read_wav(speech_wav)
    pcm = resample(pcm, rate, 16000)
    half = len(pcm) // 2
    rows = []
    for i, (split, clip) in enumerate([("train", pcm[:half]), ("valid", pcm[half:])]):
        sf.write(d / f"c{i}.wav", clip, 16000, subtype="PCM_16")
        rows.append({"path": f"c{i}.wav", "speaker": "espeak", "source": "test", "language": "en",
                     "duration": len(clip) / 16000, "text": "", "split": split, "augment": None})
    (d / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d / "manifest.jsonl"


def test_all_shipped_configs_parse():
    for path in CONFIGS.glob("*.yaml"):
        config = RunConfig.load(path)
        assert config.total_steps > 0, path


def test_a_config_can_extend_another(tmp_path: Path):
    (tmp_path / "parent.json").write_text(json.dumps(
        {"model": {"dim": 32, "bits": 16}, "train": {"run_dir": "a", "lr": 0.001},
         "stages": [{"name": "one", "steps": 5, "weights": {"stft": 1.0}}]}))
    (tmp_path / "child.yaml").write_text(
        "extends: parent.json\ntrain:\n  run_dir: b\n"
        "extra_stages:\n  - {name: two, steps: 3, weights: {mel: 1.0}}\n")
    data = load_config_file(tmp_path / "child.yaml")
    assert data["train"] == {"run_dir": "b", "lr": 0.001} and data["model"]["dim"] == 32
    assert [s["name"] for s in data["stages"]] == ["one", "two"]
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ValueError, match="loop"):
        load_config_file(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("extra_stages:\n  - {name: x, steps: 1}\n")
    with pytest.raises(ValueError, match="extra_stages needs extends"):
        load_config_file(tmp_path / "orphan.yaml")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["stages"][0].update(train=["nothing"]), "subset"),
    (lambda d: d["stages"][0].update(weights={"stft": 0.0}), "positive loss"),
    (lambda d: d["stages"][0].update(weights={"psnr": 1.0}), "unknown losses"),
    (lambda d: d["stages"][0].update(lr_end=1.5), "lr_end"),
    (lambda d: d["stages"][0].update(lr_start=-0.1), "lr_start"),
    (lambda d: d["train"].update(disc_input="waveform"), "disc_input"),
    (lambda d: d["train"].update(bit_probs=[1.0]), "bit_probs"),
    (lambda d: d["train"].update(missing_burst_max=0), "missing_burst_max"),
    (lambda d: d["train"].update(phase_resolutions=[[256, 512]]), "phase_resolutions"),
    (lambda d: d["train"].update(phase_resolutions=[]), "phase_resolutions"),
    (lambda d: d["train"].update(stft_resolutions=[[64, 16], [64, 32]]), "stft_resolutions"),
    (lambda d: d["train"].update(phase_weight_power=0.0), "phase_weight_power"),
    (lambda d: d["train"].update(learning_rate=1.0), "bad config"),
    (lambda d: d.update(extra={}), "unknown config sections"),
])
def test_bad_run_config_is_rejected(edit, message):
    data = load_config_file(CONFIGS / "tiny.yaml")
    edit(data)
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(data)


def test_learning_rate_warms_up_then_decays_within_a_stage(tmp_path: Path):
    data = load_config_file(CONFIGS / "tiny.yaml")
    data["train"].update(run_dir=str(tmp_path / "run"), warmup_steps=4)
    data["stages"] = [{"name": "flat", "steps": 10, "weights": {"stft": 1.0}},
                      {"name": "anneal", "steps": 10, "weights": {"stft": 1.0}, "lr_end": 0.1}]
    trainer = Trainer(RunConfig.from_dict(data))
    scales = []
    for step in range(20):
        trainer.step = step
        scales.append(trainer._lr_scale())
    assert scales[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert scales[4:11] == pytest.approx([1.0] * 7)  # flat stage, then the anneal's first step
    assert all(a > b for a, b in zip(scales[10:], scales[11:]))
    assert scales[15] == pytest.approx(0.1 + 0.9 * 0.5)  # half-way down the cosine
    assert 0.1 < scales[19] < 0.13  # the last step is one short of the end


def test_a_stage_can_restart_below_the_base_learning_rate(tmp_path: Path):
    data = load_config_file(CONFIGS / "tiny.yaml")
    data["train"].update(run_dir=str(tmp_path / "run"), warmup_steps=0)
    data["stages"] = [{"name": "first", "steps": 4, "weights": {"stft": 1.0}, "lr_end": 0.1},
                      {"name": "again", "steps": 10, "weights": {"stft": 1.0},
                       "lr_start": 0.3, "lr_end": 0.05}]
    trainer = Trainer(RunConfig.from_dict(data))
    scales = []
    for step in range(14):
        trainer.step = step
        scales.append(trainer._lr_scale())
    assert scales[4] == pytest.approx(0.3)
    assert scales[9] == pytest.approx(0.05 + 0.25 * 0.5)
    assert all(a > b for a, b in zip(scales[4:], scales[5:]))


@pytest.mark.parametrize("longest", [1, 8])
def test_missing_frames_come_in_bursts_and_keep_their_share(tmp_path: Path, longest: int):
    data = load_config_file(CONFIGS / "tiny.yaml")
    data["train"].update(run_dir=str(tmp_path / "run"), missing_prob=0.05, missing_burst_max=longest)
    trainer = Trainer(RunConfig.from_dict(data))
    missing = trainer._missing(400, 100)
    assert missing.mean() == pytest.approx(0.05, rel=0.15)
    runs = [len(run) for row in missing for run in "".join("x" if m else " " for m in row).split()]
    mean_run = float(np.mean(runs))  # bursts of uniform 1..longest (overlaps join a few)
    assert (longest + 1) / 2 <= mean_run < (longest + 1) / 2 * 1.3
    masked = trainer._mask(400, 100).amax(dim=-1) == 0
    assert 0.03 < masked.float().mean().item() < 0.07  # whole frames are zeroed


@pytest.mark.parametrize("decoder_lookahead", [1, 0])
def test_a_few_steps_lower_the_loss(tmp_path: Path, speech_wav: Path, decoder_lookahead: int):
    config = tiny_config(tmp_path)
    config.model.decoder_lookahead = decoder_lookahead
    config.train.missing_prob = 0.0
    config.train.bit_probs = [1.0, 0.0, 0.0]
    config.stages = config.stages[:1]
    config.stages[0].steps = 100
    pcm, rate = read_wav(speech_wav)
    clip = torch.from_numpy(resample(pcm, rate, 16000)[8000:8000 + 20 * 320].copy())
    batch = {"clean": clip[None].repeat(2, 1), "noisy": clip[None].repeat(2, 1)}
    trainer = Trainer(config)
    losses = [trainer.train_step(batch)["total"] for _ in range(12)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3])


def test_the_frame_consistency_loss_makes_the_frames_join_up(tmp_path: Path, speech_wav: Path):
    config = tiny_config(tmp_path)
    config.train.missing_prob = 0.0
    config.stages = config.stages[:1]
    config.stages[0].steps = 100
    config.stages[0].train = ["decoder"]
    config.stages[0].weights = {"overlap": 1.0}
    pcm, rate = read_wav(speech_wav)
    clip = torch.from_numpy(resample(pcm, rate, 16000)[8000:8000 + 20 * 320].copy())
    batch = {"clean": clip[None].repeat(2, 1), "noisy": clip[None].repeat(2, 1)}
    trainer = Trainer(config)
    overlap = [trainer.train_step(batch)["overlap"] for _ in range(12)]
    assert np.mean(overlap[-3:]) < 0.8 * np.mean(overlap[:3])


def test_cli_training_checkpoints_resumes_and_exports(tmp_path: Path, corpus: Path):
    from focalcall.cli import main

    config_path = tmp_path / "tiny.json"
    config = tiny_config(tmp_path, corpus)
    config_path.write_text(json.dumps(config.to_dict()))
    run = tmp_path / "run"
    logs = train_from_config(config_path, max_steps=2)
    assert {"stft", "mel", "entropy", "total"} <= set(logs)
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["step"] == 2 and ckpt["config"]["model"]["dim"] == 32
    logs = train_from_config(config_path)  # resumes at 2, runs the GAN stage to 4
    assert {"adv", "fm", "disc"} <= set(logs)
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 4
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert "valid_mel" in records[-1] and (run / "best.pt").exists()
    status = main(["codec", "export", str(run / "last.pt"), "--out", str(tmp_path / "ship")])
    assert status == 0 and (tmp_path / "ship" / "focal_decoder.onnx").exists()
    budget = json.loads((tmp_path / "ship" / "focal.json").read_text())["training_budget"]
    assert budget["steps"] == 4 and budget["cpu_hours"] >= 0
    assert budget["audio_hours"] == pytest.approx(4 * 2 * 0.4 / 3600, abs=0.006)
    shipped = torch.load(tmp_path / "ship" / "focal.pt", weights_only=False)
    assert shipped["budget"]["audio_s"] > 0  # a run grown from the shipped weights inherits it


def test_run_goes_on_with_a_new_discriminator_and_keeps_snapshots(tmp_path: Path, corpus: Path):
    config = tiny_config(tmp_path, corpus)
    first = Trainer(config)
    first.run(max_steps=2)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    config.train.disc_input = "complex"
    config.train.snapshot_every = 1
    second = Trainer(config)
    assert second.resume() and second.step == 2
    for name, value in saved["model"].items():
        assert torch.equal(second.model.state_dict()[name], value), name
    logs = second.run()  # the tiny config's GAN stage, now with the complex discriminator
    assert {"adv", "fm", "disc"} <= set(logs)
    snapshot = torch.load(tmp_path / "run" / "step-00004.pt", weights_only=False)
    assert snapshot["step"] == 4 and "disc" not in snapshot and "opt" not in snapshot
    assert snapshot["config"]["train"]["disc_input"] == "complex"
    resumed = Trainer(config)
    assert resumed.resume() and resumed.step == 4  # same discriminator kind: its state loads
    assert all(torch.equal(resumed.disc.state_dict()[k], v)
               for k, v in second.disc.state_dict().items())


def test_a_new_run_grows_from_another_runs_model(tmp_path: Path, corpus: Path):
    parent = Trainer(tiny_config(tmp_path, corpus))
    parent.run(max_steps=2)
    config = tiny_config(tmp_path, corpus)
    config.model.phase_hidden = 8
    config.train.run_dir = str(tmp_path / "grown")
    config.train.init_from = str(tmp_path / "run" / "last.pt")
    grown = Trainer(config)
    assert grown.resume() and grown.step == 2
    state = grown.model.state_dict()
    for name, value in parent.model.state_dict().items():
        assert torch.equal(state[name], value), name
    assert float(state["head.phase_mlp.2.weight"].abs().sum()) == 0  # fresh, starts at zero
    assert grown.budget["inherited_steps"] == 2 and grown.budget["inherited_audio_s"] > 0
    grown.run()
    assert torch.load(tmp_path / "grown" / "last.pt", weights_only=False)["step"] == config.total_steps
    assert Trainer(config).resume()  # from now on it resumes its own last.pt
    # Shrinking instead is refused: the checkpoint holds weights the model has no place for.
    config = tiny_config(tmp_path, corpus)
    config.train.run_dir = str(tmp_path / "shrunk")
    config.train.init_from = str(tmp_path / "grown" / "last.pt")
    with pytest.raises(ValueError, match="phase_mlp"):
        Trainer(config).resume()
    config.train.init_from = str(tmp_path / "nothing.pt")
    with pytest.raises(FileNotFoundError, match="init_from"):
        Trainer(config).resume()
    # A run grown from shipped weights (whose step ends their own schedule) may start at step 0.
    config = tiny_config(tmp_path, corpus)
    config.train.run_dir = str(tmp_path / "restarted")
    config.train.init_from = str(tmp_path / "run" / "last.pt")
    config.train.init_step = 0
    restarted = Trainer(config)
    assert restarted.resume() and restarted.step == 0
    assert restarted.budget["inherited_steps"] == 2


def test_missing_manifest_is_a_clear_error(tmp_path: Path):
    trainer = Trainer(tiny_config(tmp_path, tmp_path / "nope" / "manifest.jsonl"))
    with pytest.raises(FileNotFoundError, match="manifest"):
        trainer.run()


def test_crops_are_frame_aligned_unclipped_and_corrupted(tmp_path: Path, corpus: Path):
    from codec.neural.dataset import CropDataset

    config = tiny_config(tmp_path, corpus)
    config.data.augment_prob = 1.0
    data = CropDataset(config.data, "train", seed=5)
    for _ in range(4):
        item = data[0]
        clean, noisy = item["clean"], item["noisy"]
        assert clean.shape == noisy.shape == (config.data.segment_frames * 320,)
        assert 0 < float(clean.abs().max()) <= 10 ** (-1 / 20) + 1e-6
        assert not torch.equal(clean, noisy)
    with pytest.raises(ValueError, match="no clips in split"):
        CropDataset(config.data, "test")


def test_several_manifests_are_read_together_and_cached_apart(tmp_path: Path, corpus: Path):
    """Two corpora may both hold ``c0.wav``: rows and teacher-cache files stay distinct."""
    import shutil

    from codec.neural.dataset import CropDataset, read_manifests, teacher_cache_path

    other = tmp_path / "other"
    shutil.copytree(corpus.parent, other)
    rows = read_manifests([corpus, other / "manifest.jsonl"], "train")
    assert [r["path"] for r in rows] == ["c0.wav", "c0.wav"]
    assert rows[0]["file"] != rows[1]["file"] and all(r["file"].exists() for r in rows)
    caches = {teacher_cache_path(tmp_path / "cache", r["file"]) for r in rows}
    assert len(caches) == 2
    config = tiny_config(tmp_path, corpus)
    config.data.manifest = [str(corpus), str(other / "manifest.jsonl")]
    assert len(CropDataset(config.data).rows) == 2


def source_filter_config(tmp_path: Path, corpus: Path) -> RunConfig:
    """The tiny model with the source-filter head: parameter + teacher stage, then spectral."""
    config = tiny_config(tmp_path, corpus)
    config.model.head, config.model.decoder_teacher = "source_filter", True
    config.data.teacher_cache = str(tmp_path / "teacher")
    config.data.targets_cache = str(tmp_path / "targets")
    config.data.segment_seconds = 1.0
    params = {"teacher": 1.0, "f0": 1.0, "voicing": 0.5, "mcep": 1.0, "ap": 1.0, "entropy": 0.05}
    config.stages = [StageConfig("params", 40, weights=params),
                     StageConfig("spectral", 2, train=["decoder"],
                                 weights={**params, "mel": 1.0, "stft": 1.0})]
    config.train.valid_every = 40
    return config


def test_source_filter_training_learns_its_parameters_and_reports_them(tmp_path: Path, corpus: Path):
    pytest.importorskip("pyworld", reason="needs the data extra")
    config = source_filter_config(tmp_path, corpus)
    config.train.missing_prob = 0.0
    trainer = Trainer(config)
    logs = trainer.run(max_steps=40)          # builds both caches, then 40 parameter steps
    records = [json.loads(line) for line in (tmp_path / "run" / "losses.jsonl").read_text().splitlines()]
    first, last = records[0], records[-1]
    for name in ("mcep", "f0", "teacher"):
        assert last[name] < 0.8 * first[name], name
    assert {"valid_mcd_db", "valid_f0_within_50c", "valid_voicing_error", "valid_teacher",
            "valid_mel"} <= set(last)
    assert "mel" not in logs                  # no audio is synthesised for parameter losses
    logs = trainer.run()                      # the spectral stage goes through the synthesiser
    assert {"mel", "stft", "f0"} <= set(logs) and np.isfinite(logs["total"])


def test_parameter_and_teacher_losses_need_their_heads(tmp_path: Path):
    data = load_config_file(CONFIGS / "tiny.yaml")
    data["stages"] = [{"name": "p", "steps": 1, "weights": {"mcep": 1.0}}]
    with pytest.raises(ValueError, match="model.head: source_filter"):
        RunConfig.from_dict(data)
    data["model"]["head"] = "source_filter"
    data["stages"] = [{"name": "p", "steps": 1, "weights": {"teacher": 1.0}}]
    with pytest.raises(ValueError, match="decoder_teacher"):
        RunConfig.from_dict(data)


def test_a_new_head_grows_on_another_runs_trunk(tmp_path: Path, corpus: Path):
    parent = Trainer(tiny_config(tmp_path, corpus))
    parent.run(max_steps=1)
    config = source_filter_config(tmp_path, corpus)
    config.train.run_dir = str(tmp_path / "sf")
    config.train.init_from = str(tmp_path / "run" / "last.pt")
    config.train.init_skip = ["head."]
    child = Trainer(config)
    assert child.resume()
    state = child.model.state_dict()
    for name, value in parent.model.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(state[name], value), name


def test_crops_carry_targets_whose_level_follows_the_crop(tmp_path: Path, corpus: Path):
    pytest.importorskip("pyworld", reason="needs the data extra")
    from codec.neural.dataset import CropDataset
    from codec.neural.targets import fill_cache, load_targets

    config = source_filter_config(tmp_path, corpus)
    fill_cache([str(corpus)], Path(config.data.targets_cache))
    data = CropDataset(config.data, "train", seed=3, use_targets=True)
    whole = load_targets(Path(config.data.targets_cache), data.rows[0]["file"])
    for _ in range(3):
        item = data[0]
        frames = config.data.segment_frames
        assert item["mcep"].shape == (frames, ORDER + 1) and item["target_mask"].sum() == frames
        # find the crop in the clip by its f0 track, then check the level moved by the gain
        start = next(s for s in range(len(whole["f0"]) - frames + 1)
                     if np.allclose(whole["f0"][s:s + frames], item["f0"].numpy()))
        shift = item["mcep"][:, 0].numpy() - whole["mcep"][start:start + frames, 0]
        assert np.allclose(shift, shift[0], atol=1e-4) and np.allclose(
            item["mcep"][:, 1:].numpy(), whole["mcep"][start:start + frames, 1:], atol=1e-5)
    config.data.skip_uncached = True
    config.data.targets_cache = str(tmp_path / "empty")
    with pytest.raises(ValueError, match="cached"):
        CropDataset(config.data, "train", use_targets=True)
