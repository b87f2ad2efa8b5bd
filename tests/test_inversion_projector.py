"""NVIDIA projector schedule (SPEC §4.2, §6.7): lr ramp, latent-noise scale, noise regulariser,
noise renormalisation, w statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlens.errors import GanlensError
from ganlens.inversion.projector import (
    latent_noise_scale,
    noise_regularizer,
    project,
    projector_lr,
    renormalize_noise,
    w_statistics,
)

torch.set_num_threads(1)


def _spec_lr(t):
    ramp = min(1.0, (1.0 - t) / 0.25)
    ramp = 0.5 - 0.5 * math.cos(math.pi * ramp)
    return 0.1 * ramp * min(1.0, t / 0.05)


@pytest.mark.parametrize("t", [0.0, 0.05, 0.5, 0.8, 0.99])
def test_lr_schedule_matches_formula(t):
    assert projector_lr(t) == pytest.approx(_spec_lr(t), abs=1e-12)


def test_lr_schedule_values():
    assert projector_lr(0.0) == 0.0
    assert projector_lr(0.05) == pytest.approx(0.1)
    assert projector_lr(0.5) == pytest.approx(0.1)
    assert projector_lr(0.8) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(math.pi * 0.8)))
    assert projector_lr(0.99) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(math.pi * 0.04)))
    assert projector_lr(0.025) == pytest.approx(0.05)


@pytest.mark.parametrize("t", [0.0, 0.05, 0.5, 0.8, 0.99])
def test_latent_noise_scale(t):
    w_std = 3.7
    assert latent_noise_scale(t, w_std) == pytest.approx(w_std * 0.05 * max(0.0, 1 - t / 0.75) ** 2)
    if t >= 0.75:
        assert latent_noise_scale(t, w_std) == 0.0


def _reference_regularizer(maps):
    """Straight from SPEC §4.2: per map repeat {(mean(n·roll x))² + (mean(n·roll y))²; stop ≤ 8; avgpool}."""
    total = 0.0
    for m in maps:
        n = m.double().reshape(1, 1, *m.shape[-2:])
        while True:
            total += float((n * torch.roll(n, 1, 3)).mean() ** 2 + (n * torch.roll(n, 1, 2)).mean() ** 2)
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


def test_noise_regularizer_matches_reference():
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(1, 1, r, r, generator=g) for r in (4, 8, 16, 32, 32)]
    assert float(noise_regularizer(maps)) == pytest.approx(_reference_regularizer(maps), rel=1e-5)
    # correlated noise is penalised far more
    smooth = [F.avg_pool2d(torch.randn(1, 1, 34, 34, generator=g), 3, 1) for _ in range(2)]
    renormalize_noise(smooth)
    assert float(noise_regularizer(smooth)) > 10 * float(noise_regularizer(maps[3:]))


def test_renormalize():
    maps = [torch.randn(1, 1, 8, 8) * 3 + 2, torch.rand(1, 1, 4, 4)]
    renormalize_noise(maps)
    for m in maps:
        assert abs(float(m.mean())) < 1e-6 and abs(float(m.square().mean()) - 1) < 1e-5


def _tiny_sg2():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    torch.manual_seed(0)
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
    )
    return sg2.StyleGAN2Generator(cfg).eval().requires_grad_(False)


def test_w_statistics_match_numpy_randomstate():
    G = _tiny_sg2()
    w_avg, w_std = w_statistics(G, samples=500)
    z = torch.from_numpy(np.random.RandomState(123).randn(500, G.z_dim)).float()
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    assert torch.allclose(w_avg, w.mean(0), atol=1e-6)
    assert w_std == pytest.approx(float(((w - w.mean(0)) ** 2).sum(1).mean().sqrt()), rel=1e-5)


def test_project_runs_schedule_and_restores_noise():
    G = _tiny_sg2()
    if not G.noise_buffers():
        pytest.skip("model has no stored noise")
    before = [b.clone() for b in G.noise_buffers()]
    with torch.no_grad():
        x = G(torch.randn(2, 16, generator=torch.Generator().manual_seed(1)))
    seen = []
    res = project(
        G,
        x,
        steps=20,
        w_avg_samples=200,
        generator=torch.Generator().manual_seed(0),
        progress=False,
        callback=lambda step, lr, scale: seen.append((step, lr, scale)),
    )
    assert res.method == "projector" and res.codes.shape == (2, G.num_ws, G.w_dim)
    assert torch.equal(res.codes[:, 0], res.codes[:, -1])  # one w broadcast
    assert len(seen) == 40  # 20 steps per image, one image at a time (shared noise maps)
    w_std = res.extra["w_std"]
    for step, lr, scale in seen[:20]:
        t = step / 20
        assert lr == pytest.approx(_spec_lr(t)) and scale == pytest.approx(latent_noise_scale(t, w_std))
    for b, a in zip(G.noise_buffers(), before):  # restored
        assert torch.equal(b, a) and not b.requires_grad
    for per_image in res.extra["noise"]:  # optimised maps are renormalised
        for m in per_image:
            assert abs(float(m.mean())) < 1e-5 and abs(float(m.square().mean()) - 1) < 1e-4
    assert res.losses[-1] < res.losses[0]


def test_project_wplus_without_noise():
    G = _tiny_sg2()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    res = project(G, x, steps=5, w_plus=True, optimize_noise=False, w_avg_samples=100, progress=False)
    assert res.codes.shape == (2, G.num_ws, G.w_dim) and res.extra["noise"] is None


def test_project_needs_style_based():
    from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator

    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8)).eval()
    with pytest.raises(GanlensError, match="style-based"):
        project(G, torch.zeros(1, 3, 16, 16), steps=1, progress=False)
