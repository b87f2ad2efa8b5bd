"""Conditional StyleGAN2 training (ADA's ``--cond``): labels aligned with the images from every
source, the projection D, a G that learns to follow its label, bit-exact resume, export and
``generate --class``, and one-line errors. Tiny 16-px configs, one thread."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fixtures.training import TINY_G_ARGS
from ganlens.cli.main import main as cli_main
from ganlens.data.toonfaces import load_records, render_dataset
from ganlens.errors import GanlensError
from ganlens.generators.native import load_generator
from ganlens.training.checkpoint import latest_checkpoint
from ganlens.training.config import TrainConfig
from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator
from ganlens.training.labels import load_labels
from ganlens.training.stylegan2 import StyleGAN2Trainer, train_stylegan2

TINY = dict(resolution=16, z_dim=32, w_dim=32, map_layers=2, channel_base=256, channel_max=32, progress=False)
RED, BLUE = (220, 30, 30), (30, 30, 220)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def two_colours(tmp_path):
    """16 images: class 0 red, class 1 blue (alternating), with the labels in an .npz."""
    classes = np.arange(16) % 2
    imgs = np.zeros((16, 16, 16, 3), np.uint8)
    imgs[classes == 0] = RED
    imgs[classes == 1] = BLUE
    path = tmp_path / "colours.npz"
    np.savez(path, images=imgs, labels=classes)
    return path


def _png_folder(root, names_and_colours):
    for name, colour in names_and_colours:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), colour).save(root / name)


# ---------------------------------------------------------------------- labels
def test_labels_from_an_npz_class_indices_or_vectors_sharded_like_the_images(tmp_path, two_colours):
    labels, names = load_labels(two_colours, "dataset")
    assert names == ["class 0", "class 1"] and labels.dtype == torch.float32
    assert torch.equal(labels, torch.nn.functional.one_hot(torch.arange(16) % 2, 2).float())
    odd, _ = load_labels(two_colours, "dataset", shard=(1, 2))  # rank 1 of 2: rows 1, 3, 5, ...
    assert torch.equal(odd, labels[1::2])
    vec = np.random.RandomState(0).randn(16, 3).astype(np.float32)
    np.savez(tmp_path / "vec.npz", images=np.zeros((16, 16, 16, 3), np.uint8), labels=vec)
    got, names = load_labels(tmp_path / "vec.npz", "dataset")
    assert names == ["label 0", "label 1", "label 2"] and torch.equal(got, torch.from_numpy(vec))


@pytest.mark.parametrize("fmt", ["folder", "zip"])
def test_labels_from_dataset_json_follow_the_training_order_not_the_files_order(tmp_path, fmt):
    root = tmp_path / "imgs"
    files = [("b/2.png", BLUE), ("a/1.png", RED), ("a/0.png", RED), ("c.png", BLUE)]
    _png_folder(root, files)
    table = {"b/2.png": 2, "a/1.png": 1, "a/0.png": 0, "c.png": 3}
    (root / "dataset.json").write_text(json.dumps({"labels": [[k, v] for k, v in table.items()]}))
    path = root
    if fmt == "zip":
        path = tmp_path / "imgs.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, _ in files:
                zf.write(root / name, name)
            zf.write(root / "dataset.json", "dataset.json")
    labels, names = load_labels(path, "dataset")
    # training order is sorted by path: a/0, a/1, b/2, c
    assert names == [f"class {i}" for i in range(4)]
    assert labels.argmax(1).tolist() == [0, 1, 2, 3]


def test_labels_from_toonfaces_factors_one_hot_and_continuous(tmp_path):
    out = tmp_path / "toon"
    render_dataset(out, n=12, size=32, seed=3, progress=False)
    _, records = load_records(out)
    labels, names = load_labels(out, "hat,smile")
    assert names == ["hat=none", "hat=cap", "hat=beanie", "smile"]
    assert labels.shape == (12, 4)
    hats = ["none", "cap", "beanie"]
    assert labels[:, :3].argmax(1).tolist() == [hats.index(r["hat"]) for r in records]
    assert labels[:, :3].sum(1).tolist() == [1.0] * 12
    assert labels[:, 3].tolist() == pytest.approx([r["smile"] for r in records], abs=1e-6)  # range -1..1


@pytest.mark.parametrize(
    "make, cond, message",
    [
        (lambda p: np.save(p / "x.npy", np.zeros((4, 16, 16, 3), np.uint8)) or p / "x.npy", "dataset",
         r"x\.npy' holds no labels; conditional training \(--cond\) reads"),
        (lambda p: np.savez(p / "x.npz", images=np.zeros((4, 16, 16, 3), np.uint8)) or p / "x.npz", "dataset",
         r"has no 'labels' array for --cond; keys: images"),
        (lambda p: np.savez(p / "x.npz", images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.arange(3))
         or p / "x.npz", "dataset", r"has 3 labels for 4 images"),
        (lambda p: np.savez(p / "x.npz", images=np.zeros((2, 16, 16, 3), np.uint8), labels=np.array([0, -1]))
         or p / "x.npz", "dataset", r"class labels must be integers >= 0; got e.g. -1"),
        (lambda p: np.savez(p / "x.npz", images=np.zeros((2, 16, 16, 3), np.uint8), labels=np.array([0, 1]))
         or p / "x.npz", "hat", r"--cond 'hat' names ToonFaces factors, but .* is not a ToonFaces render"),
        (lambda p: _png_folder(p / "f", [("0.png", RED)]) or p / "f", "dataset", r"/f' has no dataset\.json"),
    ],
    ids=["npy", "npz-without-labels", "count", "negative-class", "factor-on-npz", "folder-without-json"],
)  # fmt: skip
def test_labels_errors_are_one_line(tmp_path, make, cond, message):
    with pytest.raises(GanlensError, match=message) as e:
        load_labels(make(tmp_path), cond)
    assert "\n" not in str(e.value)


def test_labels_errors_for_dataset_json_and_toonfaces(tmp_path):
    root = tmp_path / "f"
    _png_folder(root, [("0.png", RED), ("1.png", BLUE)])
    (root / "dataset.json").write_text(json.dumps({"labels": [["0.png", 0]]}))
    with pytest.raises(GanlensError, match=r"1 of 2 images have no label in dataset\.json, e\.g\. '1\.png'"):
        load_labels(root, "dataset")
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(GanlensError, match=r"dataset\.json of .* is malformed"):
        load_labels(root, "dataset")
    out = tmp_path / "toon"
    render_dataset(out, n=2, size=32, seed=3, progress=False)
    with pytest.raises(
        GanlensError, match=r"is a ToonFaces render: name the factors .* \(factors: face_shape,"
    ):
        load_labels(out, "dataset")
    with pytest.raises(GanlensError, match=r"unknown factor 'hats'; known factors: face_shape"):
        load_labels(out, "hats")
    with pytest.raises(GanlensError, match=r"must name distinct factors"):
        load_labels(out, "hat,hat")


# ---------------------------------------------------------------------- projection D
def test_conditional_d_projects_features_on_the_mapped_label():
    torch.manual_seed(0)
    D = StyleGAN2Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=32, c_dim=3))
    assert D.config.projection_dim == 32 and D.b4.out.weight.shape[0] == 32
    img = torch.randn(4, 3, 16, 16)
    c = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    logits = D(img, c)
    assert logits.shape == (4, 1)
    x = img
    for r in D.block_resolutions:
        x = getattr(D, f"b{r}")(x)
    feats = D.b4(x)  # (4, 32)
    cmap = D.mapping(torch.zeros(4, 0), c)  # (4, 32)
    assert torch.allclose(logits[:, 0], (feats * cmap).sum(1) / math.sqrt(32), atol=1e-5)
    assert not torch.allclose(D(img, c.roll(1, dims=1)), logits)  # the label matters
    with pytest.raises(
        GanlensError, match=r"this D is conditional: labels of shape \(4, 3\) are needed, got None"
    ):
        D(img)
    with pytest.raises(GanlensError, match=r"this D is unconditional \(c_dim 0\); it takes no labels"):
        StyleGAN2Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=32))(img, c)


def test_conditional_d_saves_and_loads(tmp_path):
    D = StyleGAN2Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=32, c_dim=2))
    D.save_pretrained(tmp_path / "d")
    D2 = StyleGAN2Discriminator.from_pretrained(tmp_path / "d")
    assert D2.config == D.config
    img, c = torch.randn(2, 3, 16, 16), torch.eye(2)
    assert torch.equal(D(img, c), D2(img, c))


# ---------------------------------------------------------------------- training
def test_conditional_g_learns_to_draw_its_label(two_colours, tmp_path):
    """Red images are class 0, blue ones class 1: after training, G draws red for 0 and blue for 1."""
    (tmp_path / "run").mkdir()
    cfg = TrainConfig(
        data=str(two_colours), out=str(tmp_path / "run"), batch=8, pl_weight=0.0, cond="dataset",
        mapping_lr_scale=100.0, **TINY,
    )  # fmt: skip
    t = StyleGAN2Trainer(cfg)
    assert t.G.c_dim == 2 and t.D.config.c_dim == 2
    red, blue = ((torch.tensor(c) / 127.5 - 1)[None, :, None, None] for c in (RED, BLUE))
    z = t.grid_z[:16]

    def drawn(cls: int) -> torch.Tensor:
        with torch.no_grad():
            return t.G.synthesis(t.G.mapping(z, c=cls), noise_mode="const")

    def margin() -> float:  # how much nearer each class's images are to its own colour
        r, b = drawn(0), drawn(1)
        return float(
            ((r - blue).abs().mean() - (r - red).abs().mean())
            + ((b - red).abs().mean() - (b - blue).abs().mean())
        )

    before = margin()
    for _ in range(60):
        t.train_step()
    after = margin()
    print(f"margin before {before:.3f}, after {after:.3f}")
    assert after > 0.5 and after > before + 0.5, (before, after)  # each class nearer its own colour


def _train(data, out, kimg, **kw):
    cfg = TrainConfig(
        data=str(data), out=str(out), kimg=kimg, batch=4, r1_interval=2, pl_interval=2, tick_kimg=0.008,
        snapshot_kimg=0.008, grid_seeds=4, resume=True, **{**TINY, "cond": "dataset", **kw},
    )  # fmt: skip
    return train_stylegan2(cfg)


def test_conditional_resume_is_bit_exact_with_d_low(two_colours, tmp_path):
    straight = _train(two_colours, tmp_path / "a", 0.032, lowres_d=8)
    _train(two_colours, tmp_path / "b", 0.016, lowres_d=8)
    resumed = _train(two_colours, tmp_path / "b", 0.032, lowres_d=8)
    assert straight.step == resumed.step == 8
    ca, cb = latest_checkpoint(tmp_path / "a"), latest_checkpoint(tmp_path / "b")
    for name in ["G", "D", "G_ema", "D_low", "opt_G", "opt_D", "opt_D_low"]:
        ta, tb = load_file(str(ca / f"{name}.safetensors")), load_file(str(cb / f"{name}.safetensors"))
        assert ta.keys() == tb.keys()
        assert all(torch.equal(ta[k], tb[k]) for k in ta), name
    d = load_file(str(ca / "D_low.safetensors"))
    assert "mapping.embed.weight" in d  # D_low is conditional too
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "conditional on 2 label column(s) (class 0, class 1)" in log


def test_conditional_and_unconditional_checkpoints_do_not_mix(two_colours, tmp_path):
    _train(two_colours, tmp_path / "a", 0.008, cond=None)
    with pytest.raises(
        GanlensError, match=r"the starting G has c_dim 0 and D 0, but this run has labels of 2"
    ):
        _train(two_colours, tmp_path / "a", 0.016)


def test_cli_trains_exports_and_generates_a_class(two_colours, tmp_path, capsys):
    run, model = tmp_path / "run", tmp_path / "model"
    args = ["train", "stylegan2", "--data", str(two_colours), "--res", "16", "--out", str(run),
            "--kimg", "0.008", "--batch", "4", "--cond", "--no-progress", *TINY_G_ARGS]  # fmt: skip
    assert cli_main(args) == 0
    assert cli_main(["train", "stylegan2-export", "--run", str(run), "--out", str(model), "--with-d"]) == 0
    G = load_generator(model)
    assert G.c_dim == 2
    assert json.loads((model / "discriminator" / "config.json").read_text())["c_dim"] == 2
    out = tmp_path / "imgs"
    assert (
        cli_main(["generate", "--model", str(model), "--class", "1", "--seeds", "0-1", "--out", str(out)])
        == 0
    )
    assert sorted(p.name for p in out.glob("*.png")) == ["grid.png", "seed0000.png", "seed0001.png"]
    capsys.readouterr()
    assert cli_main(["generate", "--model", str(model), "--seeds", "0", "--out", str(tmp_path / "x")]) != 0
    err = capsys.readouterr().err.strip()
    assert "this model is conditional (2 classes): pass --class 0 to 1" in err and "\n" not in err
    bad = ["train", "stylegan2", "--data", str(two_colours), "--res", "16", "--out", str(tmp_path / "r2"),
           "--kimg", "0.008", "--batch", "4", "--cond", "hat", "--no-progress", *TINY_G_ARGS]  # fmt: skip
    assert cli_main(bad) != 0
    err = capsys.readouterr().err.strip()
    assert "--cond 'hat' names ToonFaces factors" in err and "\n" not in err
