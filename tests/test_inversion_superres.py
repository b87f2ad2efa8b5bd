"""Encoder-started single-code inversion and the super-resolution default (ganlens.inversion.superres)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganlens.cli.main import main
from ganlens.errors import GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.inversion.degradations import Downsample
from ganlens.inversion.encoder import Encoder, EncoderConfig
from ganlens.inversion.optimize import encoder_latents, invert, z_shell_penalty
from ganlens.inversion.superres import SR_PRESET, super_resolve

torch.set_num_threads(1)


def lively_dcgan(seed: int = 0) -> DCGANGenerator:
    """A tiny DCGAN with calibrated batch-norm statistics (its images have contrast)."""
    torch.manual_seed(seed)
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8))
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    with torch.no_grad():
        G.train()(torch.randn(256, 8))
    return G.eval().requires_grad_(False)


def tiny_encoder(G, seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(EncoderConfig.for_generator(G, base_channels=4, max_channels=8)).eval()


def samples(G, n=3, seed=5):
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return z, G.synthesis(z)


# ------------------------------------------------------------------------------ invert(init_latents=)
def test_init_latents_start_the_first_restart():
    G = lively_dcgan()
    z, x = samples(G)
    res = invert(
        G, x, steps=0, restarts=3, init_latents=z, generator=torch.Generator().manual_seed(0), progress=False
    )
    # the true codes fit exactly, so the first restart (started there) must be chosen
    assert torch.allclose(res.extra["latents"], z) and res.extra["init"] == "latents"
    assert float(res.final_losses.max()) < 1e-10
    # with random starts only, 0 steps cannot find them
    rnd = invert(G, x, steps=0, restarts=3, generator=torch.Generator().manual_seed(0), progress=False)
    assert float(rnd.final_losses.min()) > 1e-4


def test_init_latents_and_prior_weight_are_checked():
    G = lively_dcgan()
    _, x = samples(G)
    with pytest.raises(GanlensError, match="init_latents have shape"):
        invert(G, x, steps=1, init_latents=torch.zeros(2, 8), progress=False)
    with pytest.raises(GanlensError, match="prior_weight"):
        invert(G, x, steps=1, prior_weight=-1.0, progress=False)


def test_prior_weight_pulls_z_to_the_shell():
    assert torch.allclose(z_shell_penalty(torch.ones(2, 4)), torch.zeros(2))
    assert torch.allclose(z_shell_penalty(torch.zeros(1, 4)), torch.ones(1))
    G = lively_dcgan()
    small = torch.full((2, 8), 0.3)  # mean(z²) = 0.09, inside the shell; its image fits exactly
    with torch.no_grad():
        x = G.synthesis(small)
    kw = dict(steps=30, lr=0.02, init_latents=small, progress=False)
    free = invert(G, x, **kw)  # zero gradient: stays
    held = invert(G, x, prior_weight=1.0, **kw)
    assert torch.allclose(free.extra["latents"], small)
    assert torch.all(z_shell_penalty(held.extra["latents"]) < z_shell_penalty(small) - 0.05)


def test_prior_weight_needs_z_space():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    torch.manual_seed(0)
    G = sg2.StyleGAN2Generator(
        sg2.StyleGAN2Config(
            resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
        )
    ).eval()
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(GanlensError, match="z space only"):
        invert(G, x, space="w", steps=1, prior_weight=1.0, progress=False)
    E = Encoder(EncoderConfig.for_generator(G, base_channels=4, max_channels=8)).eval()
    with pytest.raises(GanlensError, match="cannot start"):
        encoder_latents(G, E, "z", x)
    assert encoder_latents(G, E, "w", x).shape == (1, 16)
    assert encoder_latents(G, E, "w+", x).shape == (1, G.num_ws, 16)


# ------------------------------------------------------------------------------ encoder_latents / SR
def test_encoder_latents_see_the_bicubic_upsampled_observation():
    G = lively_dcgan()
    E = tiny_encoder(G)
    _, x = samples(G)
    deg = Downsample(4, 16)
    low = deg(x)
    got = encoder_latents(G, E, "z", low, deg)
    with torch.no_grad():
        want = E(F.interpolate(low, size=16, mode="bicubic", align_corners=False).clamp(-1, 1))
    assert torch.allclose(got, want)
    # a full-resolution input is downsampled by the degradation first: same answer
    assert torch.allclose(encoder_latents(G, E, "z", x, deg), want)


def test_super_resolve_starts_at_the_encoder_and_improves_the_fit():
    from ganlens.inversion.hybrid import encoder_invert

    G = lively_dcgan()
    E = tiny_encoder(G)
    _, x = samples(G)
    deg = Downsample(4, 16)
    low = deg(x)
    enc = encoder_invert(G, E, low, degradation=deg)
    start = super_resolve(G, low, encoder=E, steps=0, progress=False)
    assert torch.allclose(start.images, enc.images, atol=1e-6)
    res = super_resolve(G, low, encoder=E, steps=40, progress=False)
    assert res.method == "z" and res.extra["lr"] == SR_PRESET.lr and res.images.shape == x.shape
    assert torch.all(res.final_losses <= enc.final_losses + 1e-7)
    assert float(res.final_losses.mean()) < 0.5 * float(enc.final_losses.mean())
    # no encoder: the mGANprior fallback
    fb = super_resolve(G, low, steps=2, generator=torch.Generator().manual_seed(0), progress=False)
    assert fb.method == "mganprior" and fb.images.shape == x.shape


# ------------------------------------------------------------------------------ CLI
@pytest.fixture
def setup(tmp_path):
    G = lively_dcgan()
    model = tmp_path / "tiny16"
    G.save_pretrained(str(model))
    tiny_encoder(G).save_pretrained(tmp_path / "enc")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.RandomState(0)
    for i in range(2):
        Image.fromarray((rng.rand(20, 20, 3) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    return model, tmp_path / "enc", photos


def test_super_resolve_cli_default_is_encoder_started_z(setup, tmp_path):
    model, enc, photos = setup
    out = tmp_path / "sr"
    args = [
        "super-resolve",
        photos,
        "--model",
        model,
        "--encoder",
        enc,
        "--steps",
        "3",
        "--out",
        out,
        "--quiet",
    ]
    assert main([str(a) for a in args]) == 0
    assert json.loads((out / "p0.json").read_text())["method"] == "z"
    cfg = json.loads((out / "run.json").read_text())["config"]
    assert (cfg["method"], cfg["init"], cfg["lr"]) == ("z", "encoder", SR_PRESET.lr)


def test_super_resolve_cli_falls_back_and_init_is_checked(setup, tmp_path, monkeypatch, capsys):
    import ganlens.inversion.runner as runner

    model, enc, photos = setup
    seen = {}
    real = runner.run_inversion

    def fake(cfg, **kw):
        seen.update(method=cfg.method, init=cfg.init, steps=cfg.steps)
        return {}

    monkeypatch.setattr(runner, "run_inversion", fake)
    # a model given by path has no shipped encoder: mGANprior, as before
    assert main(["super-resolve", str(photos), "--model", str(model), "--out", str(tmp_path / "a")]) == 0
    assert seen == {"method": "mganprior", "init": "random", "steps": None}
    assert (
        main(["super-resolve", str(photos), "--model", "digiface-dcgan64", "--out", str(tmp_path / "b")]) == 0
    )
    assert seen == {"method": "z", "init": "encoder", "steps": SR_PRESET.steps}
    official = ["--preset", "official", "--out", str(tmp_path / "o")]
    assert main(["super-resolve", str(photos), "--model", "digiface-dcgan64", *official]) == 0
    assert seen == {"method": "mganprior", "init": "random", "steps": 2000}
    assert (
        main(
            [
                "invert",
                str(photos),
                "--model",
                str(model),
                "--method",
                "z",
                "--init",
                "encoder",
                "--encoder",
                str(enc),
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert seen == {"method": "z", "init": "encoder", "steps": None}
    monkeypatch.setattr(runner, "run_inversion", real)
    rc = main(
        [
            "invert",
            str(photos),
            "--model",
            str(model),
            "--method",
            "mganprior",
            "--init",
            "encoder",
            "--out",
            str(tmp_path / "d"),
            "--quiet",
        ]
    )
    assert rc == 2 and "--init encoder needs --method z" in capsys.readouterr().err
