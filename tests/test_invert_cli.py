"""``ganlens invert``, colorize, super-resolve, inpaint, denoise: outputs, resume, torchrun, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.cli.main import main
from ganlens.codes import CodesFile
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8)).eval()
    d = tmp_path_factory.mktemp("model") / "tiny16"
    G.save_pretrained(str(d))
    return d


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.RandomState(0)
    for i in range(4):
        arr = (rng.rand(24, 20, 3) * 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"p{i}.png")
    return d


def _run(*args) -> int:
    return main([str(a) for a in args])


def test_invert_folder_outputs(model_dir, photos, tmp_path):
    out = tmp_path / "out"
    rc = _run(
        "invert",
        photos,
        "--model",
        model_dir,
        "--method",
        "mganprior",
        "--codes",
        "3",
        "--steps",
        "3",
        "--batch-size",
        "3",
        "--out",
        out,
        "--quiet",
        "--crop",
        "1",
    )
    assert rc == 0
    for i in range(4):
        rec = np.asarray(Image.open(out / f"p{i}.png"))
        assert rec.shape == (16, 16, 3)
        assert Image.open(out / f"p{i}_compare.png").size[0] > 2 * 16
        m = json.loads((out / f"p{i}.json").read_text())
        assert {"psnr", "ssim", "seconds", "warnings", "prior_distance"} <= set(m)
        cf = CodesFile.load(out / f"p{i}.npz")
        assert cf.codes.shape == (1, 8) and cf.multi_codes.shape == (1, 3, 8) and cf.multi_layer == 1
        assert cf.multi_alpha.shape == (1, 3, 16)
        assert cf.names == [f"p{i}"]
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["images"]) == 4 and not man["missing"] and man["mean"]["psnr"] is not None
    # random-noise photos are far from what the model can express: warned
    assert man["warnings"] >= 1 and any("PSNR" in w for r in man["images"] for w in r["warnings"])
    # refuses to overwrite without --overwrite
    assert _run("invert", photos, "--model", model_dir, "--steps", "1", "--out", out, "--quiet") == 2


def test_codes_reproduce_reconstruction(model_dir, photos, tmp_path):
    out = tmp_path / "z"
    assert (
        _run(
            "invert",
            photos / "p0.png",
            "--model",
            model_dir,
            "--method",
            "z",
            "--steps",
            "5",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    from ganlens.zoo import load_model

    G = load_model(model_dir)
    cf = CodesFile.load(out / "p0.npz")
    with torch.no_grad():
        img = G.synthesis(cf.tensor())
    from ganlens.utils.io import to_uint8

    saved = np.asarray(Image.open(out / "p0.png"))
    assert np.abs(to_uint8(img[0]).astype(int) - saved.astype(int)).max() <= 1


@pytest.mark.parametrize(
    "cmd,extra,degraded_size",
    [
        ("colorize", [], 16),
        ("super-resolve", ["--factor", "4", "--down", "bicubic"], 16),
        ("inpaint", ["--mask-type", "center"], 16),
        ("denoise", ["--sigma", "20"], 16),
    ],
)
def test_task_commands(model_dir, photos, tmp_path, cmd, extra, degraded_size):
    out = tmp_path / cmd
    rc = _run(
        cmd,
        photos / "p1.png",
        "--model",
        model_dir,
        "--codes",
        "2",
        "--steps",
        "2",
        "--out",
        out,
        "--quiet",
        *extra,
    )
    assert rc == 0
    assert np.asarray(Image.open(out / "p1_degraded.png")).shape == (degraded_size, degraded_size, 3)
    m = json.loads((out / "p1.json").read_text())
    assert m["task"]["task"] in ("colorization", "super-resolution", "inpainting", "denoising")
    if cmd == "colorize":  # the result keeps the input's luminance
        res = np.asarray(Image.open(out / "p1.png")).astype(float)
        deg = np.asarray(Image.open(out / "p1_degraded.png")).astype(float)
        y = res @ np.array([0.299, 0.587, 0.114])
        assert np.abs(y - deg[..., 0]).mean() < 2.0


def test_inpaint_mask_file_sizes(model_dir, photos, tmp_path):
    mask = np.zeros((24, 20), np.uint8)
    mask[5:10, 5:10] = 255
    Image.fromarray(mask).save(tmp_path / "m_photo.png")  # the photo's size: framed like the photo
    assert (
        _run(
            "inpaint",
            photos / "p0.png",
            "--model",
            model_dir,
            "--mask",
            tmp_path / "m_photo.png",
            "--steps",
            "1",
            "--codes",
            "2",
            "--out",
            tmp_path / "a",
            "--quiet",
        )
        == 0
    )
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "m16.png")  # model resolution
    assert (
        _run(
            "inpaint",
            photos / "p0.png",
            "--model",
            model_dir,
            "--mask",
            tmp_path / "m16.png",
            "--steps",
            "1",
            "--codes",
            "2",
            "--out",
            tmp_path / "b",
            "--quiet",
        )
        == 0
    )


def test_bad_inputs(model_dir, photos, tmp_path, capsys):
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "m30.png")
    assert (
        _run(
            "inpaint",
            photos / "p0.png",
            "--model",
            model_dir,
            "--mask",
            tmp_path / "m30.png",
            "--out",
            tmp_path / "o1",
            "--quiet",
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "30×30" in err and "16×16" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("invert", empty, "--model", model_dir, "--out", tmp_path / "o2", "--quiet") == 2
    assert "no images" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not an image")
    assert _run("invert", bad, "--model", model_dir, "--out", tmp_path / "o3", "--quiet") == 2
    assert "cannot read image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        _run("super-resolve", photos, "--model", model_dir, "--factor", "3", "--out", tmp_path / "o4")
    assert e.value.code == 2
    assert "2, 4, 8 or 16" in capsys.readouterr().err
    assert (
        _run(
            "invert",
            photos,
            "--model",
            model_dir,
            "--layer",
            "7",
            "--steps",
            "1",
            "--out",
            tmp_path / "o5",
            "--quiet",
        )
        == 2
    )
    assert "composition layer 7 is out of range" in capsys.readouterr().err
    assert (
        _run("invert", photos, "--model", model_dir, "--method", "w", "--out", tmp_path / "o6", "--quiet")
        == 2
    )
    assert "latent space 'w'" in capsys.readouterr().err
    assert (
        _run("invert", photos, "--model", model_dir, "--crop", "1.5", "--out", tmp_path / "o7", "--quiet")
        == 2
    )
    assert "crop fraction" in capsys.readouterr().err
    assert _run("inpaint", photos, "--model", model_dir, "--out", tmp_path / "o8", "--quiet") == 2
    assert "--mask" in capsys.readouterr().err


def test_resume_after_interruption(model_dir, photos, tmp_path, monkeypatch):
    import ganlens.inversion.runner as runner

    done: list[str] = []
    real = runner._process_batch

    def flaky(G, chunk, *args, **kwargs):
        if len(done) >= 2:
            raise KeyboardInterrupt  # killed after the first batch
        real(G, chunk, *args, **kwargs)
        done.extend(s for _, s in chunk)

    monkeypatch.setattr(runner, "_process_batch", flaky)
    out = tmp_path / "r"
    args = [
        "invert",
        photos,
        "--model",
        model_dir,
        "--method",
        "z",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--out",
        out,
        "--quiet",
    ]
    assert _run(*args) == 130  # interrupted, finished outputs kept
    assert sorted(p.name for p in out.glob("p*.json")) == ["p0.json", "p1.json"]
    first = (out / "p0.json").stat().st_mtime_ns
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(
        runner,
        "_process_batch",
        lambda G, chunk, *a, **k: (done.extend(s for _, s in chunk), real(G, chunk, *a, **k)),
    )
    done.clear()
    assert _run(*args, "--resume") == 0
    assert done == ["p2", "p3"]  # nothing redone
    assert (out / "p0.json").stat().st_mtime_ns == first
    assert len(json.loads((out / "manifest.json").read_text())["images"]) == 4
    # resuming with different settings is refused
    assert (
        _run(
            "invert",
            photos,
            "--model",
            model_dir,
            "--method",
            "mganprior",
            "--out",
            out,
            "--resume",
            "--quiet",
        )
        == 2
    )


@pytest.mark.slow
def test_torchrun_two_processes_shard_the_folder(model_dir, photos, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    if not Path(torchrun).exists():
        pytest.skip("torchrun not available")
    out = tmp_path / "dist"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "ganlens.cli.main",
        "invert",
        str(photos),
        "--model",
        str(model_dir),
        "--method",
        "z",
        "--steps",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    man = json.loads((out / "manifest.json").read_text())
    ranks = {r["name"]: r["rank"] for r in man["images"]}
    assert ranks == {"p0": 0, "p1": 1, "p2": 0, "p3": 1}
    assert not man["missing"]


@pytest.mark.parametrize("method", ["mganprior", "z"])
def test_edit_real_photo_with_sefa_directions(model_dir, photos, tmp_path, method):
    sefa = pytest.importorskip("ganlens.sefa")
    from ganlens.zoo import load_model

    G = load_model(model_dir)
    dirs = sefa.factorize(G, "all", model_id="tiny16")
    dpath = dirs.save(tmp_path / "dirs")
    out = tmp_path / f"edit_{method}"
    assert (
        _run(
            "invert",
            photos / "p2.png",
            "--model",
            model_dir,
            "--method",
            method,
            "--codes",
            "2",
            "--steps",
            "2",
            "--edit-directions",
            dpath,
            "--edit-index",
            "0",
            "--edit-distances",
            "-3,0,3",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    strip = np.asarray(Image.open(out / "p2_edit.png"))
    assert strip.shape[1] == 4 * 16 + 5 * 2  # input + 3 distances, padded grid
    # distance 0 reproduces the reconstruction, ±3 change it
    rec = np.asarray(Image.open(out / "p2.png")).astype(int)
    tiles = [strip[2:18, 2 + k * 18 : 18 + k * 18].astype(int) for k in range(4)]
    assert np.abs(tiles[2] - rec).max() <= 1
    base = np.abs(tiles[2] - rec).mean()  # the random tiny model's images are nearly flat gray
    assert np.abs(tiles[1] - rec).mean() > base + 0.1 and np.abs(tiles[3] - rec).mean() > base + 0.1
    assert (
        _run(
            "invert",
            photos / "p2.png",
            "--model",
            model_dir,
            "--edit-directions",
            tmp_path / "nope.npz",
            "--out",
            tmp_path / "x",
            "--quiet",
        )
        == 2
    )


@pytest.mark.parametrize("method", ["encoder", "hybrid"])
def test_encoder_methods_through_the_cli(model_dir, photos, tmp_path, method, capsys):
    enc = pytest.importorskip("ganlens.inversion.encoder")
    pytest.importorskip("ganlens.inversion.hybrid")
    from ganlens.zoo import load_model

    G = load_model(model_dir)
    torch.manual_seed(0)
    e = enc.Encoder(enc.EncoderConfig.for_generator(G, base_channels=4, max_channels=8))
    e.save_pretrained(tmp_path / "enc")
    out = tmp_path / method
    assert (
        _run(
            "invert",
            photos / "p0.png",
            "--model",
            model_dir,
            "--method",
            method,
            "--encoder",
            tmp_path / "enc",
            "--steps",
            "2",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    assert json.loads((out / "p0.json").read_text())["method"] == method
    # no encoder shipped for a model given by path: a clear one-line error
    assert (
        _run(
            "invert",
            photos / "p0.png",
            "--model",
            model_dir,
            "--method",
            method,
            "--out",
            tmp_path / "x",
            "--quiet",
        )
        == 2
    )
    assert "encoder" in capsys.readouterr().err


def test_official_preset(model_dir, photos, tmp_path, monkeypatch):
    import ganlens.inversion.runner as runner

    seen = {}

    def fake(cfg, **kw):
        seen.update(n=cfg.n_codes, steps=cfg.steps, opt=cfg.optimizer, lr=cfg.lr)
        return {}

    monkeypatch.setattr(runner, "run_inversion", fake)
    assert (
        _run("colorize", photos, "--model", model_dir, "--preset", "official", "--out", tmp_path / "c") == 0
    )
    assert seen == {"n": 20, "steps": 1500, "opt": "sgd", "lr": 1.0}
    assert (
        _run(
            "invert", photos, "--model", model_dir, "--preset", "official", "--steps", "7", "--out", tmp_path
        )
        == 0
    )
    assert seen == {"n": 30, "steps": 7, "opt": "sgd", "lr": 1.0}
    assert _run("invert", photos, "--model", model_dir, "--out", tmp_path) == 0
    assert seen == {"n": 20, "steps": None, "opt": "adam", "lr": None}


@pytest.mark.parametrize("method", ["projector", "w+", "mganprior"])
def test_style_based_model_through_the_cli(photos, tmp_path, method):
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    torch.manual_seed(0)
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
    )
    sg2.StyleGAN2Generator(cfg).eval().save_pretrained(str(tmp_path / "sg2"))
    out = tmp_path / method
    assert (
        _run(
            "invert",
            photos / "p3.png",
            "--model",
            tmp_path / "sg2",
            "--method",
            method,
            "--steps",
            "3",
            "--codes",
            "2",
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    cf = CodesFile.load(out / "p3.npz")
    assert cf.codes.shape == (1, 6, 16)
    m = json.loads((out / "p3.json").read_text())
    assert m["prior_distance"] > 0 and m["method"] == method


def test_super_resolve_default_on_a_style_based_model_starts_w_plus_from_the_encoder(photos, tmp_path):
    """The encoder-started preset optimises z on projection models and w+ on style-based ones (a
    StyleGAN encoder gives w+ rows; z cannot start from them)."""
    from ganlens.generators import build_generator
    from ganlens.inversion.encoder import Encoder, EncoderConfig

    torch.manual_seed(0)
    G = build_generator(
        {"arch": "stylegan2", "resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
         "channel_base": 128, "channel_max": 16}
    ).eval()  # fmt: skip
    G.save_pretrained(str(tmp_path / "G"))
    Encoder(EncoderConfig.for_generator(G, base_channels=4, max_channels=8)).save_pretrained(tmp_path / "E")
    out = tmp_path / "sr"
    args = ("super-resolve", photos / "p0.png", "--model", tmp_path / "G", "--encoder", tmp_path / "E")
    assert _run(*args, "--steps", "2", "--out", out, "--quiet") == 0
    rec = json.loads((out / "p0.json").read_text())
    assert rec["method"] == "w+"
