"""Attribute classifier: training, resume, metrics, and the shipped weights on fresh renders."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ganlens.classifier import (
    AttributeClassifier,
    ClassifierConfig,
    attribute_scores,
    frechet_distance,
    load_classifier,
    marginal_histograms,
    marginal_spread,
    marginal_tv,
    toon_fd,
    train_classifier,
)
from ganlens.classifier import io as cio
from ganlens.cli.main import main as cli_main
from ganlens.data.toonfaces import TOONFACES_SCHEMA, render_dataset, render_toonface, sample_attributes
from ganlens.errors import CheckpointError, GanlensError


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls") / "data"
    render_dataset(out, n=48, size=32, seed=7, progress=False)
    return out


def test_training_loss_decreases_and_resumes(tiny_data, tmp_path):
    torch.set_num_threads(1)
    cfg = ClassifierConfig(resolution=32, channels=(8, 16, 24), feature_dim=32)
    out = tmp_path / "run"
    s = train_classifier(
        tiny_data,
        out=out,
        steps=40,
        batch_size=16,
        lr=3e-3,
        config=cfg,
        log_every=1,
        checkpoint_every=20,
        progress=False,
        val_fraction=0.1,
    )
    losses = [v for _, v in s.losses]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3])
    assert set(s.scores) == set(TOONFACES_SCHEMA.names)
    for name in (
        "config.json",
        "model.safetensors",
        "checkpoint.pt",
        "metrics.json",
        "log.jsonl",
        "loss.png",
    ):
        assert (out / name).is_file()
    with pytest.raises(GanlensError, match="not empty"):
        train_classifier(tiny_data, out=out, steps=45, config=cfg, progress=False)
    s2 = train_classifier(
        tiny_data, out=out, steps=45, batch_size=16, config=cfg, resume=True, progress=False, val_fraction=0.1
    )
    assert s2.resumed_from == 40 and s2.steps == 45
    m = load_classifier(out)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    pred = m.predict(x)
    assert pred["hat"].dtype == torch.long and pred["roll"].shape == (3,)
    lo, hi = TOONFACES_SCHEMA["roll"].range
    assert bool(((pred["roll"] >= lo) & (pred["roll"] <= hi)).all())
    assert m.features(x).shape == (3, 32)


def test_cli_train_classifier_errors(tiny_data, tmp_path, capsys):
    assert (
        cli_main(["train", "classifier", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        cli_main(
            ["train", "classifier", "--data", str(tiny_data), "--out", str(tmp_path / "o"), "--steps", "0"]
        )
        == 2
    )
    base = ["train", "classifier", "--data", str(tiny_data), "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert cli_main([*base, "--channels", "8,x"]) == 2
    assert "--channels '8,x' must be comma-separated integers" in capsys.readouterr().err
    assert cli_main([*base, "--channels", "8"]) == 2
    assert "channels (8,) downsample" in capsys.readouterr().err
    assert cli_main([*base, "--channels", "8,0,16"]) == 2
    assert "channels (8, 0, 16): every width must be an integer >= 1" in capsys.readouterr().err


def test_stem_stride_1_bf16_training_runs(tiny_data, tmp_path):
    """The full-resolution stem (stride 1) with bf16 autocast trains and keeps float32 weights."""
    torch.set_num_threads(1)
    arch = {"channels": (8, 16, 24, 24), "stem_stride": 1, "feature_dim": 32}
    s = train_classifier(
        tiny_data, out=tmp_path / "s1", steps=30, batch_size=16, lr=3e-3, arch=arch, bf16=True,
        log_every=1, progress=False, val_fraction=0.1,
    )  # fmt: skip
    losses = [v for _, v in s.losses]
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:3])
    m = load_classifier(tmp_path / "s1")
    assert m.config.stem_stride == 1 and m.config.final_side == 4
    assert all(p.dtype == torch.float32 for p in m.parameters())
    with pytest.raises(GanlensError, match="either config or arch"):
        train_classifier(tiny_data, out=tmp_path / "x", steps=2, config=m.config, arch=arch, progress=False)


def test_frechet_distance_matches_direct_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) * 0.5 + 1.0
    assert toon_fd(a, a) == pytest.approx(0.0, abs=1e-8)
    # reference: scipy's sqrtm
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert toon_fd(a, b) == pytest.approx(ref, rel=1e-6)
    # a pure shift adds |shift|^2; singular covariances stay finite
    assert frechet_distance(np.zeros(3), np.eye(3), np.ones(3) * 2, np.eye(3)) == pytest.approx(12.0)
    sing = np.diag([1.0, 0.0, 0.0])
    assert np.isfinite(frechet_distance(np.zeros(3), sing, np.zeros(3), np.eye(3)))
    with pytest.raises(GanlensError):
        toon_fd(a[:1], b)


def test_marginal_tv():
    schema = TOONFACES_SCHEMA
    n = 50
    base = {
        f.name: (torch.zeros(n, dtype=torch.long) if f.categorical else torch.full((n,), f.range[0]))
        for f in schema
    }
    other = {k: v.clone() for k, v in base.items()}
    other["hat"][:] = 1
    other["roll"][:] = schema["roll"].range[1]
    other["smile"][: n // 2] = schema["smile"].range[1]
    tv = marginal_tv(base, other, schema=schema)
    assert tv["hat"] == pytest.approx(1.0) and tv["roll"] == pytest.approx(1.0)
    assert tv["smile"] == pytest.approx(0.5) and tv["face_shape"] == 0.0
    assert marginal_tv(base, base, schema=schema)["background"] == 0.0
    h = marginal_histograms(other, schema=schema, bins=4)
    assert h["hat"].tolist() == [0.0, 1.0, 0.0] and h["smile"].tolist() == [0.5, 0.0, 0.0, 0.5]
    assert len(h["roll"]) == 4 and h["roll"][-1] == 1.0  # the range's top edge is in the last bin
    assert (
        0.5 * np.abs(h["smile"] - marginal_histograms(base, schema=schema, bins=4)["smile"]).sum()
        == tv["smile"]
    )


def test_marginal_spread():
    schema = TOONFACES_SCHEMA
    n = 40
    lo, hi = schema["roll"].range
    a = {
        f.name: (torch.zeros(n, dtype=torch.long) if f.categorical else torch.full((n,), f.range[0]))
        for f in schema
    }
    b = {k: v.clone() for k, v in a.items()}
    # roll: ±x in a, ±2x in b -> a has half b's standard deviation
    x = (hi - lo) / 8
    a["roll"] = torch.tensor([-x, x] * (n // 2))
    b["roll"] = torch.tensor([-2 * x, 2 * x] * (n // 2))
    # glasses: a uses all 4 classes equally (4 effective classes), b only 2 (2 effective classes)
    a["glasses"] = torch.arange(n) % 4
    b["glasses"] = torch.arange(n) % 2
    # eye colour counts only where glasses are not sunglasses (class 3): a varies it only behind
    # sunglasses, so where it applies a has one colour against b's two
    a["eye_color"] = torch.where(a["glasses"] == 3, torch.arange(n) % 3, torch.zeros(n, dtype=torch.long))
    b["eye_color"] = torch.arange(n) % 2
    sp = marginal_spread(a, b, schema=schema)
    assert sp["roll"] == pytest.approx(0.5) and sp["glasses"] == pytest.approx(2.0)
    assert sp["eye_color"] == pytest.approx(0.5)
    assert sp["hat"] == 1.0  # one class in each: one effective class each
    assert np.isnan(sp["scale"])  # a continuous factor that b never varies has no ratio
    assert marginal_spread(b, b, schema=schema)["roll"] == pytest.approx(1.0)
    # values outside the schema range are clipped as in marginal_tv
    far = dict(a, roll=torch.tensor([lo - 100.0, hi + 100.0] * (n // 2)))
    edge = dict(a, roll=torch.tensor([lo, hi] * (n // 2)))
    assert marginal_spread(far, b, schema=schema)["roll"] == pytest.approx(
        marginal_spread(edge, b, schema=schema)["roll"]
    )


def test_classifier_rejects_bad_input():
    m = AttributeClassifier(ClassifierConfig(resolution=32, channels=(8, 16), feature_dim=8))
    with pytest.raises(GanlensError, match="shape"):
        m.predict(torch.zeros(2, 1, 32, 32))
    with pytest.raises(GanlensError):
        ClassifierConfig(resolution=48)


def test_shipped_weights_checked(tmp_path, monkeypatch):
    if not (cio.SHIPPED_DIR / cio.WEIGHTS_NAME).is_file():
        pytest.fail("shipped classifier weights are missing")
    fake = tmp_path / "shipped"
    shutil.copytree(cio.SHIPPED_DIR, fake)
    raw = bytearray((fake / cio.WEIGHTS_NAME).read_bytes())
    raw[-1] ^= 1
    (fake / cio.WEIGHTS_NAME).write_bytes(bytes(raw))
    monkeypatch.setattr(cio, "SHIPPED_DIR", fake)
    with pytest.raises(CheckpointError, match="sha256"):
        load_classifier()


def test_shipped_classifier_meets_the_bars_on_fresh_renders():
    """Fresh renders (seeds never used for training) at 64 px: accuracy >= 95% on every
    categorical factor, R² >= 0.9 on every continuous one."""
    torch.set_num_threads(1)
    model = load_classifier()
    base = 900_000_000
    recs, imgs = [], []
    for i in range(400):
        seed = base + i
        rec = sample_attributes(np.random.default_rng(seed))
        recs.append(rec)
        imgs.append(render_toonface(rec, size=64, seed=seed).image)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    scores = attribute_scores(model, x, recs)
    bars = {k: 0.95 if v["metric"] == "accuracy" else 0.9 for k, v in scores.items()}
    bad = {k: round(v["value"], 3) for k, v in scores.items() if v["value"] < bars[k]}
    assert not bad, f"factors below the bar: {bad}"
    # features and ToonFD: two halves of the same distribution are closer than renders vs noise
    f = model.extract_features(x)
    noise = model.extract_features(torch.rand(200, 3, 64, 64) * 2 - 1)
    assert toon_fd(f[:200], f[200:]) < 0.2 * toon_fd(f[:200], noise)
