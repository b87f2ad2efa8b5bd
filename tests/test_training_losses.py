"""Losses, regularisers, EMA and the discriminator of ganlens.training (numerical checks)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganlens.errors import GanlensError
from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator, minibatch_stddev
from ganlens.training.ema import ema_beta, update_ema
from ganlens.training.losses import (
    PathLengthRegularizer,
    d_logistic_loss,
    g_nonsaturating_loss,
    path_length_lengths,
    r1_penalty,
)
from ganlens.training.optim import lazy_adam


def test_logistic_losses_match_log_sigmoid():
    logits = torch.tensor([[-3.0], [0.0], [2.5]])
    assert torch.allclose(g_nonsaturating_loss(logits), -F.logsigmoid(logits).flatten())
    real, fake = torch.tensor([[1.0], [-2.0]]), torch.tensor([[0.5], [3.0]])
    expected = -F.logsigmoid(real).flatten() - torch.log1p(-torch.sigmoid(fake)).flatten()
    assert torch.allclose(d_logistic_loss(real, fake), expected, atol=1e-6)
    assert torch.allclose(d_logistic_loss(None, fake), F.softplus(fake).flatten())


def test_r1_equals_analytic_gradient_norm():
    # D(x) = sum(a * x^2) per sample  =>  grad = 2 a x,  R1 = sum((2 a x)^2)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, 4, generator=g)
    x = torch.randn(5, 3, 4, 4, generator=g, requires_grad=True)
    logits = (a * x.square()).sum(dim=(1, 2, 3))[:, None]
    pen = r1_penalty(logits, x)
    expected = (2 * a * x.detach()).square().sum(dim=(1, 2, 3))
    assert pen.shape == (5,)
    assert torch.allclose(pen, expected, rtol=1e-5)
    # differentiable: d/dx of R1 exists (create_graph)
    pen.sum().backward()
    assert x.grad is not None and torch.allclose(x.grad, 8 * a.square() * x.detach(), rtol=1e-4)


def test_path_length_equals_analytic_jacobian_norm():
    # img = A · vec(ws)  =>  J^T y = A^T y,  length = sqrt(mean_ws sum_w (A^T y)^2)
    g = torch.Generator().manual_seed(1)
    n, num_ws, w_dim, c, h = 3, 4, 5, 2, 3
    A = torch.randn(c * h * h, num_ws * w_dim, generator=g)
    ws = torch.randn(n, num_ws, w_dim, generator=g, requires_grad=True)
    img = (ws.reshape(n, -1) @ A.t()).reshape(n, c, h, h)
    lengths = path_length_lengths(img, ws, generator=torch.Generator().manual_seed(7))
    y = torch.randn((n, c, h, h), generator=torch.Generator().manual_seed(7)) / math.sqrt(h * h)
    jt = (y.reshape(n, -1) @ A).reshape(n, num_ws, w_dim)
    expected = jt.square().sum(2).mean(1).sqrt()
    assert torch.allclose(lengths, expected, rtol=1e-5)


def test_path_length_regularizer_tracks_mean():
    pl = PathLengthRegularizer(decay=0.5)
    pen = pl(torch.tensor([1.0, 3.0]))  # mean 2 → target lerp(0, 2, 0.5) = 1
    assert float(pl.mean) == pytest.approx(1.0)
    assert torch.allclose(pen, torch.tensor([0.0, 4.0]))
    pl(torch.tensor([2.0]), batch_mean=torch.tensor(5.0))  # DDP: the all-ranks mean wins
    assert float(pl.mean) == pytest.approx(3.0)


def test_lazy_adam_corrections():
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = lazy_adam(p, lr=0.0025, betas=(0.0, 0.99), eps=1e-8, interval=16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert group["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    assert lazy_adam(p, lr=0.002, betas=(0.0, 0.99), eps=1e-8, interval=0).param_groups[0]["lr"] == 0.002


def test_ema_beta_half_life_and_rampup():
    assert ema_beta(batch_size=32, cur_nimg=0, ema_kimg=10, ema_rampup=0.05) == 0.0
    beta = ema_beta(batch_size=32, cur_nimg=10**7, ema_kimg=10, ema_rampup=0.05)
    assert beta ** (10_000 / 32) == pytest.approx(0.5)
    early = ema_beta(batch_size=32, cur_nimg=1000, ema_kimg=10, ema_rampup=0.05)  # half-life 50 images
    assert early ** (50 / 32) == pytest.approx(0.5)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    old = a.weight.detach().clone()
    update_ema(a, b, 0.25)
    assert torch.allclose(a.weight, b.weight + 0.25 * (old - b.weight))


def _tiny_d(**kw) -> StyleGAN2Discriminator:
    return StyleGAN2Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=32, **kw))


def test_discriminator_matches_ada_reference():
    # Output of NVlabs/stylegan2-ada-pytorch's Discriminator (architecture='resnet', mbstd group 4),
    # computed once on CPU with these exact weights (seed 0 init, biases ~ N(0, 0.5)).
    torch.manual_seed(0)
    D = _tiny_d()
    with torch.no_grad():
        for k, p in D.named_parameters():
            if "bias" in k:
                p.normal_(0, 0.5)
    x = torch.linspace(-1, 1, 8 * 3 * 16 * 16).reshape(8, 3, 16, 16).sin()
    ada = torch.tensor([-0.139928, -0.055022, 0.059796, 0.219532, 0.357329, 0.318329, 0.451515, 0.568989])
    assert torch.allclose(D(x).flatten(), ada, atol=2e-5)


def test_minibatch_stddev_matches_loop():
    x = torch.randn(8, 6, 4, 4)
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (8, 7, 4, 4)
    n_groups = 2
    for i in range(8):
        members = x[i % n_groups :: n_groups]  # ADA groups sample i with i ± n
        expected = members.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[i, 6], torch.full((4, 4), float(expected)), atol=1e-5)
    with pytest.raises(GanlensError, match="not divisible"):
        minibatch_stddev(torch.randn(6, 4, 4, 4), group_size=4)


def test_discriminator_save_load_and_errors(tmp_path):
    D = _tiny_d()
    x = torch.randn(4, 3, 16, 16)
    D.save_pretrained(tmp_path / "d")
    D2 = StyleGAN2Discriminator.from_pretrained(tmp_path / "d")
    assert torch.equal(D(x), D2(x))
    assert D2.config == D.config
    with pytest.raises(GanlensError, match="exists"):
        D.save_pretrained(tmp_path / "d")
    with pytest.raises(GanlensError, match=r"expected \(N, 3, 16, 16\)"):
        D(torch.randn(4, 3, 32, 32))
    with pytest.raises(GanlensError, match="power of two"):
        DiscriminatorConfig(resolution=48)
    with pytest.raises(GanlensError, match="needs config.json"):
        StyleGAN2Discriminator.from_pretrained(tmp_path / "missing")
