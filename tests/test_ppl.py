"""Perceptual path length: closed forms on a linear generator, the ε² scaling, shared noise, the
percentile filter, slerp, and the ``ganlens ppl`` command (random LPIPS weights)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganlens.analysis.ppl import filtered_mean, perceptual_path_length, prepare_for_distance, slerp
from ganlens.cli.main import main
from ganlens.errors import GanlensError
from ganlens.generators.native import load_generator
from test_inversion import _random_lpips_state
from test_loaders_stylegan2 import FIX


class LinearG:
    """A style-based stand-in whose mapping (z → w) and synthesis (w+ → image) are linear maps."""

    style_based, arch, c_dim, device = True, "linear", 0, torch.device("cpu")

    def __init__(self, z_dim: int = 6, w_dim: int = 5, num_ws: int = 2, res: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.z_dim, self.num_ws, self.res = z_dim, num_ws, res
        self.M = torch.randn(z_dim, w_dim, generator=g)
        self.B = torch.randn(num_ws * w_dim, 3 * res * res, generator=g)

    def noise_buffers(self) -> list:
        return []

    def mapping(self, z):
        return (z @ self.M).unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode="const"):
        return (ws.flatten(1) @ self.B).reshape(-1, 3, self.res, self.res)


def sq_l2(a, b):
    return (a - b).square().flatten(1).sum(1)


def test_linear_generator_in_w_matches_the_closed_form():
    """With w = zM broadcast and image = w+ B, d/ε² = |(z1 − z0) M B'|², B' = B summed over the w+
    rows; its mean over z0, z1 ~ N(0, I) is 2·|M B'|_F², whatever t is."""
    G = LinearG()
    Bw = G.B.reshape(G.num_ws, -1, G.B.shape[1]).sum(0)  # (w_dim, pixels)
    want = 2 * float((G.M @ Bw).square().sum())
    for sampling in ("end", "full"):
        r = perceptual_path_length(G, sq_l2, n=20_000, sampling=sampling, batch_size=500, progress=False)
        assert abs(r.distances.mean() / want - 1) < 0.03, (sampling, r.distances.mean(), want)
        assert r.value < r.distances.mean()  # the filter drops the heavy upper tail


def test_epsilon_scaling_and_shared_noise():
    """On a real StyleGAN2 with non-zero noise strengths, the value is a derivative: ε = 1e-4 and
    1e-3 agree (unshared noise would add a term ∝ 1/ε²); the stored noise maps are restored."""
    G = load_generator(FIX)
    before = [b.clone() for b in G.noise_buffers()]
    a = perceptual_path_length(G, sq_l2, n=200, epsilon=1e-4, progress=False)
    b = perceptual_path_length(G, sq_l2, n=200, epsilon=1e-3, progress=False)
    assert abs(a.value / b.value - 1) < 0.05 and a.value > 0
    assert all(torch.equal(x, y) for x, y in zip(before, G.noise_buffers()))
    z = perceptual_path_length(G, sq_l2, n=200, space="z", progress=False)
    assert z.value > 0 and z.value != a.value


def test_filter_slerp_and_crop():
    # 1000 values: 1…990 and ten outliers 1e9 + k. Kept: sorted[floor(0.01·999)] = 10 up to
    # sorted[ceil(0.99·999)] = 1e9 + 0 (the official 'lower'/'higher' percentiles)
    d = np.concatenate([np.arange(1.0, 991.0), 1e9 + np.arange(10.0)])
    np.random.default_rng(0).shuffle(d)
    assert filtered_mean(d) == pytest.approx((np.arange(10.0, 991.0).sum() + 1e9) / 982)
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    assert torch.allclose(slerp(a, b, torch.tensor([[0.0]])), torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(slerp(a, b, torch.tensor([[1.0]])), torch.tensor([[0.0, 1.0]]), atol=1e-6)
    mid = slerp(a, b, torch.tensor([[0.5]]))
    assert torch.allclose(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]))
    x = torch.arange(2 * 1 * 512 * 512, dtype=torch.float32).reshape(2, 1, 512, 512)
    y = prepare_for_distance(x, crop=True)  # rows 192–447, columns 128–383, then gray → RGB
    assert y.shape == (2, 3, 256, 256) and torch.equal(y[:, 0], x[:, 0, 192:448, 128:384])
    assert prepare_for_distance(x, crop=False).shape == (2, 3, 256, 256)  # 512 → 256 by 2×2 means


def test_bad_arguments_are_one_line_errors():
    G = LinearG()
    for kw, needle in [
        ({"space": "q"}, "PPL space 'q' is not allowed"),
        ({"sampling": "mid"}, "PPL sampling 'mid' is not allowed"),
        ({"n": 10}, "number of pairs 10 must be an integer >= 100"),
        ({"epsilon": 0.5}, r"epsilon 0.5 must be in \(0, 0.1\]"),
        ({"c": 3}, "class 3: this model is unconditional"),
    ]:
        with pytest.raises(GanlensError, match=needle):
            perceptual_path_length(G, sq_l2, progress=False, **kw)
    G.style_based, G.arch = False, "dcgan"
    with pytest.raises(GanlensError, match="dcgan has no w space; use space 'z'"):
        perceptual_path_length(G, sq_l2, progress=False)


def test_cli(tmp_path, capsys):
    torch.save(_random_lpips_state("torchvision"), tmp_path / "lpips.pth")
    args = ["ppl", str(FIX), "--lpips", str(tmp_path / "lpips.pth"), "--n", "100", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "ppl.json")]) == 0
    out = capsys.readouterr().out
    assert "PPL (w, end, ε 0.0001, n 100): " in out
    result = json.loads((tmp_path / "ppl.json").read_text())
    assert result["n"] == 100 and result["ppl"] > 0 and f"{result['ppl']:.2f}" in out
    assert main([*args, "--out", str(tmp_path / "ppl.json")]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--class", "1"]) == 2
    assert "this model is unconditional" in capsys.readouterr().err
    assert main([*args[:3], str(tmp_path / "missing.pth"), "--n", "100"]) == 2
    assert "does not exist" in capsys.readouterr().err
    cond = str(FIX / "ada_cond.pkl")
    assert main(["ppl", cond, *args[2:], "--class", "9"]) == 2
    assert "class 9 is not allowed; this model has classes 0–3" in capsys.readouterr().err
    assert main(["ppl", cond, *args[2:], "--space", "z", "--sampling", "full"]) == 0  # random classes
