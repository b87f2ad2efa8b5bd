"""StyleGAN2 architecture: sizes, determinism, persistence, split point, bf16, and equality with the
official implementations (reference outputs stored once by
tests/fixtures/stylegan2/make_official_fixture.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlens.errors import GanlensError
from ganlens.generators import build_generator, get_architecture
from ganlens.generators.fir import (
    downsample2d,
    fold_filter,
    set_fold_resample,
    setup_filter,
    upfirdn2d,
    upsample2d,
)
from ganlens.generators.native import load_generator
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

FIX = Path(__file__).parent / "fixtures" / "stylegan2"
TINY = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, channel_base=128, channel_max=16)


def tiny(seed: int = 0, **kw) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    G = StyleGAN2Generator(StyleGAN2Config(**{**TINY.__dict__, **kw})).eval()
    with torch.no_grad():  # nonzero noise strengths and biases so every tensor matters
        for name, t in G.named_parameters():
            if name.endswith("noise_strength"):
                t.fill_(0.3)
            elif name.endswith(".bias") and "affine" not in name:
                t.normal_(0, 0.2)
        G.mapping_network.w_avg.normal_(0, 0.5)
    return G


@pytest.fixture(scope="module")
def official():
    G = load_generator(FIX)
    ws = torch.from_numpy(np.load(FIX / "ws.npy"))
    return G, ws


@pytest.mark.parametrize(("res", "num_ws"), [(1024, 18), (512, 16), (256, 14), (32, 8), (8, 4)])
def test_num_ws_table(res, num_ws):
    cfg = StyleGAN2Config(resolution=res, z_dim=4, w_dim=4, mapping_layers=1, channel_base=res, channel_max=1)
    G = StyleGAN2Generator(cfg)
    assert G.num_ws == num_ws
    assert G.num_split_layers == num_ws - 1
    assert len(G.noise_buffers()) == num_ws - 1
    pw = G.projection_weights()
    assert sorted(pw) == list(range(num_ws))
    assert G.code_shape == (num_ws, 4)


def test_registry_and_channel_table():
    assert get_architecture("stylegan2") is StyleGAN2Generator
    cfg = StyleGAN2Config()
    assert [cfg.nf(r) for r in (4, 64, 128, 256, 512, 1024)] == [512, 512, 256, 128, 64, 32]
    G = build_generator(TINY.to_dict())
    assert isinstance(G, StyleGAN2Generator) and G.config == TINY


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"architecture": "bogus"}, "unknown"),
        ({"resolution": 48}, "power of two"),
        ({"channel_base": 8}, "channel_base"),
        ({"mapping_layers": 0}, "mapping_layers"),
        ({"conv_clamp": -1.0}, "conv_clamp"),
    ],
)
def test_config_validation(kw, needle):
    with pytest.raises(GanlensError, match=needle):
        StyleGAN2Config(**{**TINY.__dict__, **kw})


def test_shapes_and_determinism():
    G = tiny()
    z = G.z_from_seeds([1, 2])
    ws = G.mapping(z)
    assert ws.shape == (2, G.num_ws, 16)
    assert torch.equal(ws[:, 0], ws[:, -1])
    img = G.synthesis(ws)
    assert img.shape == (2, 3, 16, 16) and img.dtype == torch.float32
    assert torch.equal(img, tiny().synthesis(tiny().mapping(z)))  # same seed, same weights, same image
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    r1, r2 = (
        G.synthesis(ws, noise_mode="random", generator=g1),
        G.synthesis(ws, noise_mode="random", generator=g2),
    )
    assert torch.equal(r1, r2)
    assert (r1 - img).abs().max() > 1e-3  # random noise differs from the stored noise
    assert (G.synthesis(ws, noise_mode="none") - img).abs().max() > 1e-3


def test_bad_inputs_raise_clear_errors():
    G = tiny()
    with pytest.raises(GanlensError, match="expects"):
        G.synthesis(torch.zeros(1, G.num_ws + 1, 16))
    with pytest.raises(GanlensError, match="noise mode"):
        G.synthesis(torch.zeros(1, G.num_ws, 16), noise_mode="fresh")
    with pytest.raises(GanlensError, match="z has shape"):
        G.mapping(torch.zeros(1, 3))
    with pytest.raises(GanlensError, match="out of range"):
        G.synthesis_head(torch.zeros(1, G.num_ws, 16), G.num_split_layers)
    with pytest.raises(GanlensError, match="feature has shape"):
        G.synthesis_tail(torch.zeros(1, 5, 4, 4), torch.zeros(1, G.num_ws, 16), 1)


def test_save_pretrained_roundtrip(tmp_path):
    G = tiny()
    G.save_pretrained(str(tmp_path / "m"))
    H = load_generator(tmp_path / "m")
    assert H.config == G.config
    for k, v in G.state_dict().items():
        assert torch.equal(v, H.state_dict()[k]), k
    ws = G.mapping(G.sample_z(2, seed=3))
    assert torch.equal(G.synthesis(ws), H.synthesis(ws))
    with pytest.raises(GanlensError, match="overwrite"):
        G.save_pretrained(str(tmp_path / "m"))


def test_truncation():
    G = tiny()
    z = G.sample_z(3, seed=0)
    ws = G.mapping(z)
    t = G.mapping(z, trunc_psi=0.5, trunc_cutoff=2)
    assert torch.allclose(t[:, :2], G.w_avg + 0.5 * (ws[:, :2] - G.w_avg), atol=1e-6)
    assert torch.equal(t[:, 2:], ws[:, 2:])
    assert torch.allclose(G.mapping(z, trunc_psi=0.0), G.w_avg.expand_as(ws))


def test_split_identity_every_layer():
    G = tiny()
    ws = torch.randn(2, G.num_ws, 16)  # independent rows, so a wrong row index would show
    ref = G.synthesis(ws)
    for layer in range(1, G.num_split_layers):
        feat = G.synthesis_head(ws, layer)
        assert tuple(feat.shape[1:]) == G.feature_shape(layer)
        out = G.synthesis_tail(feat, ws, layer)
        assert (out - ref).abs().max() <= 1e-5, layer
    # the feature really carries the running image: zeroing it changes the output
    feat = G.synthesis_head(ws, 3)
    feat[:, -3:] = 0
    assert (G.synthesis_tail(feat, ws, 3) - ref).abs().max() > 1e-3


def test_projection_weights_are_the_owning_affines():
    G = tiny()
    pw = G.projection_weights()
    net = G.synthesis_network
    assert torch.equal(pw[0], net.b4.conv1.affine.weight)
    assert torch.equal(pw[1], net.b8.conv0.affine.weight)
    assert torch.equal(pw[2], net.b8.conv1.affine.weight)
    assert torch.equal(pw[G.num_ws - 1], net.b16.torgb.affine.weight)
    # perturbing w+ row i changes only what row i feeds: row 1 feeds b4.torgb and b8.conv0
    ws = torch.randn(1, G.num_ws, 16)
    ws2 = ws.clone()
    ws2[:, 1] += 1
    assert not torch.equal(G.synthesis(ws), G.synthesis(ws2))


def test_bf16_autocast_and_gradients():
    G = tiny()
    ws = G.mapping(G.sample_z(2, seed=1))
    ref = G.synthesis(ws)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = G.synthesis(ws)
    assert torch.isfinite(out).all()
    rel = (out.float() - ref).abs().max() / ref.abs().max()
    assert rel < 0.1
    # inversion optimises codes and noise maps
    codes = ws.detach().clone().requires_grad_(True)
    noises = G.noise_buffers()
    for n in noises:
        n.requires_grad_(True)
    G.synthesis(codes).square().mean().backward()
    assert codes.grad is not None and codes.grad.abs().sum() > 0
    assert all(n.grad is not None and n.grad.abs().sum() > 0 for n in noises)
    for n in noises:
        n.requires_grad_(False)
        n.grad = None


def test_training_mode_tracks_w_avg_and_mixes():
    G = tiny().train()
    before = G.w_avg.clone()
    w = G.mapping_network(torch.randn(8, 16), update_w_avg=True)
    assert w.shape == (8, 16)
    assert not torch.equal(before, G.w_avg)
    before = G.w_avg.clone()
    G.mapping(torch.randn(8, 16), update_w_avg=True)  # the interface method too (the trainer uses it)
    assert not torch.equal(before, G.w_avg)
    before = G.w_avg.clone()
    G.eval().mapping(torch.randn(8, 16), update_w_avg=True)  # never in eval mode
    assert torch.equal(before, G.w_avg)
    G.train()
    ws = torch.cat([w[:4, None].expand(4, 3, 16), w[4:, None].expand(4, G.num_ws - 3, 16)], dim=1)
    img = G.synthesis(ws, noise_mode="random")
    img.mean().backward()
    assert G.synthesis_network.b4.const.grad is not None


def test_upfirdn2d_reference():
    f = setup_filter()
    assert torch.allclose(f.sum(), torch.tensor(1.0))
    x = torch.ones(1, 2, 4, 4)
    up = upsample2d(x, f)
    assert up.shape == (1, 2, 8, 8)
    assert torch.allclose(up[:, :, 2:-2, 2:-2], torch.ones(1, 2, 4, 4))  # DC gain 1 away from the border
    # an impulse spreads as the 4x4 filter (gain 1, no resampling)
    imp = torch.zeros(1, 1, 5, 5)
    imp[0, 0, 2, 2] = 1
    out = upfirdn2d(imp, f, padding=(2, 1, 2, 1))
    assert torch.allclose(out[0, 0, 1:5, 1:5], f.flip([0, 1]))


def test_downsample2d_is_the_strided_filter_in_any_precision():
    f = setup_filter()
    x = torch.randn(2, 3, 10, 10)
    full = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, [1] * 4), f[None, None].expand(3, 1, 4, 4), groups=3
    )  # every pixel of the low-passed map
    down = downsample2d(x, f, pad=1, stride=2)
    assert down.shape == (2, 3, 5, 5)
    assert torch.allclose(down, full[:, :, ::2, ::2], atol=1e-6)
    # bf16 input (the CPU fast path filters in float32) keeps the dtype and agrees to bf16 rounding
    low = downsample2d(x.bfloat16(), f, pad=1, stride=2)
    assert low.dtype == torch.bfloat16
    assert (low.float() - down).abs().max() < 0.05
    x.requires_grad_(True)
    downsample2d(x.bfloat16(), f, pad=1, stride=2).float().sum().backward()
    assert torch.allclose(x.grad[:, :, 2:-2, 2:-2], torch.full((2, 3, 6, 6), 0.25), atol=1e-2)


# ---------------------------------------------------------------------- official references
def test_matches_official_ada_rosinality_genforce(official):
    G, ws = official
    out = G.synthesis(ws)
    assert out.abs().max() > 1  # a real signal, not a blank image
    for name in ("ada_img", "rosinality_img", "genforce_img"):
        ref = torch.from_numpy(np.load(FIX / f"{name}.npy"))
        assert (out - ref).abs().max() <= 1e-4, name


def test_matches_official_mapping_truncation_and_clamp(official):
    G, ws = official
    z = torch.from_numpy(np.load(FIX / "z.npy"))
    assert (G.mapping(z) - torch.from_numpy(np.load(FIX / "ada_mapping.npy"))).abs().max() <= 1e-5
    trunc = G.mapping(z, trunc_psi=0.7, trunc_cutoff=4)
    assert (trunc - torch.from_numpy(np.load(FIX / "ada_trunc.npy"))).abs().max() <= 1e-5
    Gc = StyleGAN2Generator(StyleGAN2Config(**{**G.config.__dict__, "conv_clamp": 0.5})).eval()
    Gc.load_state_dict(G.state_dict())
    ref = torch.from_numpy(np.load(FIX / "ada_clamp05_img.npy"))
    assert (Gc.synthesis(ws) - ref).abs().max() <= 1e-4
    assert (G.synthesis(ws) - ref).abs().max() > 0.1  # the clamp matters in this reference


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    G = tiny()
    ws = G.mapping(G.sample_z(2, seed=4))
    ref = G.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(1))
    Gc = G.to("cuda")
    out = Gc.synthesis(ws.cuda(), noise_mode="random", generator=torch.Generator().manual_seed(1))
    assert (out.cpu() - ref).abs().max() <= 1e-3
    feat = Gc.synthesis_head(ws.cuda(), 2)
    assert (Gc.synthesis_tail(feat, ws.cuda(), 2).cpu() - G.to("cpu").synthesis(ws)).abs().max() <= 1e-3


def test_folded_fir_equals_conv_then_filter():
    """fold_filter: a transposed conv by the folded 6x6 kernel = transposed 3x3 conv + FIR (G's up
    layers); conv2d by the folded kernel = FIR + strided conv (D's down layers), in float64; and a
    generator with fold_resample on draws the same images."""
    torch.manual_seed(0)
    f_sym = setup_filter().double()
    f_odd = torch.rand(4, 4, dtype=torch.float64)  # a filter that is not symmetric checks the flips
    x = torch.randn(2, 5, 8, 8, dtype=torch.float64)
    w = torch.randn(3, 5, 3, 3, dtype=torch.float64)
    for f in (f_sym, f_odd):
        up = upfirdn2d(F.conv_transpose2d(x, w.transpose(0, 1), stride=2), f, padding=(1, 1, 1, 1), gain=4)
        folded = F.conv_transpose2d(x, fold_filter(w, f, gain=4).transpose(0, 1), stride=2, padding=2)
        assert folded.shape == up.shape == (2, 3, 16, 16)
        assert torch.allclose(folded, up, atol=1e-12)
        down = F.conv2d(upfirdn2d(x, f, padding=(2, 2, 2, 2)), w, stride=2)
        folded = F.conv2d(x, fold_filter(w, f.flip([0, 1])), stride=2, padding=2)
        assert folded.shape == down.shape == (2, 3, 4, 4)
        assert torch.allclose(folded, down, atol=1e-12)

    G = StyleGAN2Generator(
        StyleGAN2Config(resolution=32, z_dim=16, w_dim=16, channel_base=128, channel_max=16)
    )
    ws = G.mapping(torch.randn(3, 16))
    img = G.synthesis(ws, noise_mode="const")
    assert set_fold_resample(G, True) == 7  # every synthesis layer has the switch; 3 of them go up
    assert not torch.equal(G.synthesis(ws, noise_mode="const"), img)  # the folded path ran
    assert torch.allclose(G.synthesis(ws, noise_mode="const"), img, atol=1e-5)
