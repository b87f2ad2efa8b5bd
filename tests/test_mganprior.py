"""mGANprior (SPEC §4.5, §6.9): N = 1 identity, α shapes, PGGAN scale invariance, optimisation."""

from __future__ import annotations

import pytest
import torch

from ganlens.errors import GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.inversion.degradations import Colorize, Inpaint, center_mask
from ganlens.inversion.mganprior import OFFICIAL_PRESETS, compose, default_layer, mganprior_invert

torch.set_num_threads(1)


def _dcgan():
    torch.manual_seed(0)
    return DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8)).eval().requires_grad_(False)


def _pggan():
    pg = pytest.importorskip("ganlens.generators.pggan")
    torch.manual_seed(0)
    return pg.PGGANGenerator(pg.PGGANConfig(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)).eval()


def _sg2():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    torch.manual_seed(0)
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
    )
    return sg2.StyleGAN2Generator(cfg).eval().requires_grad_(False)


def _sg1():
    sg = pytest.importorskip("ganlens.generators.stylegan")
    torch.manual_seed(0)
    cfg = sg.StyleGANConfig(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, mapping_fmaps=16, fmaps_base=128, fmaps_max=16
    )
    return sg.StyleGANGenerator(cfg).eval().requires_grad_(False)


@pytest.mark.parametrize(
    "make", [_dcgan, _pggan, _sg2, _sg1], ids=["dcgan", "pggan", "stylegan2", "stylegan"]
)
def test_single_code_alpha_one_reproduces_generator(make):
    G = make()
    codes = G.mapping(G.sample_z(2, seed=3))
    with torch.no_grad():
        ref = G.synthesis(codes)
        for layer in range(1, G.num_split_layers):
            c = G.feature_shape(layer)[0]
            img = compose(G, codes[:, None], torch.ones(2, 1, c), layer)
            torch.testing.assert_close(img, ref, atol=1e-5, rtol=1e-5)


def test_n_identical_codes_with_alpha_one_reproduce_generator():
    """Σ_n F ⊙ 1 / N = F: the official /N makes N copies of a code with α = 1 a no-op."""
    G = _dcgan()
    z = G.sample_z(1, seed=1)
    with torch.no_grad():
        ref = G.synthesis(z)
        img = compose(G, z[:, None].expand(1, 5, -1), torch.ones(1, 5, G.feature_shape(2)[0]), 2)
    torch.testing.assert_close(img, ref, atol=1e-5, rtol=1e-5)


def test_alpha_scaling_leaves_pggan_unchanged():
    G = _pggan()
    codes = G.sample_z(2, seed=4)[:, None].expand(2, 3, -1).contiguous() + torch.randn(2, 3, 16) * 0.5
    with torch.no_grad():
        for layer in (1, 3, 5):
            c = G.feature_shape(layer)[0]
            alpha = torch.rand(2, 3, c) + 0.1
            a = compose(G, codes, alpha, layer)
            b = compose(G, codes, alpha * 6.0, layer)
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_compose_shape_errors():
    G = _dcgan()
    codes = torch.randn(2, 3, 8)
    with pytest.raises(GanlensError, match="alpha has shape"):
        compose(G, codes, torch.ones(2, 3, 7), 2)
    with pytest.raises(GanlensError, match="multi-codes"):
        compose(G, torch.randn(2, 3, 9), torch.ones(2, 3, G.feature_shape(2)[0]), 2)
    with pytest.raises(GanlensError, match="composition layer 9 is out of range"):
        compose(G, codes, torch.ones(2, 3, 4), 9)


def test_mganprior_shapes_and_improvement():
    G = _dcgan()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(0)
    res = mganprior_invert(G, x, n_codes=4, layer=2, steps=40, generator=g, progress=False)
    c = G.feature_shape(2)[0]
    assert res.method == "mganprior" and res.layer == 2
    assert res.multi_codes.shape == (2, 4, 8) and res.alpha.shape == (2, 4, c) and res.codes.shape == (2, 8)
    assert res.losses[-1] < res.losses[0]
    with torch.no_grad():  # the stored pieces reproduce the stored images
        again = compose(G, res.multi_codes, res.alpha, 2)
    torch.testing.assert_close(again, res.images, atol=1e-5, rtol=1e-5)
    # init: α = 1/N at step 0 (the first loss equals that of the 1/N composition)
    assert res.final_losses.shape == (2,)


def test_mganprior_beats_single_code_on_a_random_target():
    from ganlens.inversion.optimize import invert

    G = _dcgan()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    single = invert(G, x, steps=60, generator=torch.Generator().manual_seed(0), progress=False)
    multi = mganprior_invert(
        G, x, n_codes=8, layer=2, steps=60, generator=torch.Generator().manual_seed(0), progress=False
    )
    assert float(multi.final_losses.mean()) < float(single.final_losses.mean())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mganprior_optimizers_and_tasks(optimizer):
    G = _dcgan()
    with torch.no_grad():
        x = G.synthesis(G.sample_z(1, seed=2))
    res = mganprior_invert(
        G,
        Colorize()(x),
        degradation=Colorize(),
        n_codes=3,
        layer=1,
        steps=5,
        optimizer=optimizer,
        progress=False,
    )
    assert res.extra["optimizer"] == optimizer and res.extra["lr"] == (1.0 if optimizer == "sgd" else 0.1)
    res = mganprior_invert(G, x, degradation=Inpaint(center_mask(16)), n_codes=3, steps=3, progress=False)
    assert res.images.shape == x.shape


def test_mganprior_style_based_tail_codes():
    G = _sg2()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    for tail in ("mean", "learned"):
        res = mganprior_invert(G, x, n_codes=3, layer=2, steps=5, tail_code=tail, progress=False)
        assert res.multi_codes.shape == (1, 3, G.num_ws, G.w_dim)
        assert (res.extra["tail_code"] is None) == (tail == "mean")
        with torch.no_grad():
            again = compose(G, res.multi_codes, res.alpha, 2, tail_code=res.extra["tail_code"])
        torch.testing.assert_close(again, res.images, atol=1e-5, rtol=1e-5)


def test_presets_and_defaults():
    assert OFFICIAL_PRESETS["inpainting"].vgg == 0.1 and OFFICIAL_PRESETS["reconstruction"].n_codes == 30
    G = _dcgan()  # 16 px: features 4, 8 px at layers 1, 2
    assert default_layer(G) == 1 and default_layer(G, "colorization") == 1
    with torch.device("meta"):
        G64 = DCGANGenerator(DCGANConfig(resolution=256, z_dim=8, ngf=8))
    assert default_layer(G64) == 3 and G64.feature_shape(3)[-1] == 16  # R/16 like PGGAN-256 ℓ=6
    assert default_layer(G64, "inpainting") == 2
    pg = pytest.importorskip("ganlens.generators.pggan")
    with torch.device("meta"):
        P = pg.PGGANGenerator(pg.PGGANConfig(resolution=256))
    assert default_layer(P) == 6 and default_layer(P, "colorization") == 4  # the official script defaults
    with pytest.raises(GanlensError, match="n_codes"):
        mganprior_invert(G, torch.zeros(1, 3, 16, 16), n_codes=0, progress=False)
    with pytest.raises(GanlensError, match="alpha init"):
        mganprior_invert(G, torch.zeros(1, 3, 16, 16), alpha_init="two", progress=False)
    with pytest.raises(GanlensError, match="composition layer"):
        mganprior_invert(G, torch.zeros(1, 3, 16, 16), layer=0, steps=1, progress=False)
