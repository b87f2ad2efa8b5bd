"""Widening a StyleGAN2 and its D (``ganlens train stylegan2-widen``): the wider copies draw the same
images and give the same logits, their new channels receive gradients, narrowing and other
architectures are refused, and training carries on from the written folder. Tiny 16-px networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures.training import TINY_G_ARGS
from ganlens.cli.main import main as cli_main
from ganlens.errors import GanlensError
from ganlens.generators import build_generator
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.generators.native import load_generator
from ganlens.generators.stylegan2 import StyleGAN2Config
from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator
from ganlens.training.widen import widen_discriminator, widen_stylegan2

TINY = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)


@pytest.fixture
def trained_like():
    """A tiny StyleGAN2 whose every parameter is moved off its initial value (biases, noise strengths
    and affine biases included), so that copying and the zero blocks are tested on non-trivial weights."""
    torch.manual_seed(0)
    G = build_generator(StyleGAN2Config(**TINY).to_dict())
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return G.eval()


def _images(G, ws):
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


def test_the_wider_copy_draws_the_same_images(trained_like):
    G = trained_like
    r = widen_stylegan2(G, channel_base=512, channel_max=64, seed=1)
    assert r.channels_before == {4: 32, 8: 32, 16: 16}
    assert r.channels_after == {4: 64, 8: 64, 16: 32}
    assert r.params_after > r.params_before
    assert r.max_abs_diff < 1e-5
    ws = torch.randn(6, G.num_ws, G.w_dim)  # a different w on every layer
    a, b = _images(G, ws), _images(r.generator, ws)
    assert a.abs().mean() > 0.05  # the check compares real images, not zeros
    assert (a - b).abs().max() < 1e-5
    # the mapping network and w_avg come over unchanged
    z = torch.randn(4, G.z_dim)
    assert torch.equal(G.mapping(z), r.generator.mapping(z))
    assert torch.equal(G.w_avg, r.generator.w_avg)
    # one widening of the widths only (channel_max kept): 16 px grows, 4 and 8 px stay
    r2 = widen_stylegan2(G, channel_base=1024, channel_max=32)
    assert r2.channels_after == {4: 32, 8: 32, 16: 32} and r2.max_abs_diff < 1e-5


def test_the_new_channels_are_fresh_and_learn(trained_like):
    wide = widen_stylegan2(trained_like, channel_base=512, channel_max=64).generator
    net = wide.synthesis_network
    conv = net.b8.conv0  # reads b4's 64 channels, of which 32 are new; writes 64, of which 32 are new
    assert torch.count_nonzero(conv.weight[:32, 32:]) == 0  # old outputs ignore new inputs
    assert conv.weight[32:].abs().mean() > 0.5  # fresh rows, as a new layer starts
    assert torch.count_nonzero(net.b16.torgb.weight[:, 16:]) == 0
    wide.requires_grad_(True)
    img = wide.synthesis(torch.randn(3, wide.num_ws, wide.w_dim), noise_mode="const")
    img.square().mean().backward()
    assert conv.weight.grad[:32, 32:].abs().sum() > 0  # the zero block trains
    assert net.b16.torgb.weight.grad[:, 16:].abs().sum() > 0


def test_narrowing_and_other_architectures_are_refused(trained_like):
    with pytest.raises(GanlensError, match=r"would narrow the generator \(8 px 32 → 16, 16 px 16 → 8\)"):
        widen_stylegan2(trained_like, channel_base=128, channel_max=64)
    dcgan = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8, channel_max=32))
    with pytest.raises(GanlensError, match="needs a stylegan2 generator; this one is a dcgan"):
        widen_stylegan2(dcgan, channel_base=512, channel_max=64)


def test_cli_widens_copies_d_and_training_carries_on(trained_like, tmp_path, capsys):
    model = tmp_path / "m"
    trained_like.save_pretrained(str(model))
    D = StyleGAN2Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=32))
    D.save_pretrained(model / "discriminator")
    wide = tmp_path / "wide"
    cmd = ["train", "stylegan2-widen", str(model), "--channel-base", "512", "--channel-max", "64"]
    assert cli_main([*cmd, "--out", str(wide)]) == 0
    out = capsys.readouterr().out
    assert "channels 4:32 8:32 16:16 -> 4:64 8:64 16:32" in out and "with its discriminator/" in out
    G2 = load_generator(wide)
    ws = torch.randn(2, G2.num_ws, G2.w_dim)
    assert (_images(trained_like, ws) - _images(G2, ws)).abs().max() < 1e-5
    D2 = StyleGAN2Discriminator.from_pretrained(wide / "discriminator")
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), D2.state_dict().values()))

    assert cli_main([*cmd, "--out", str(wide)]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert (
        cli_main([*cmd[:3], "--channel-base", "64", "--channel-max", "64", "--out", str(tmp_path / "n")]) == 2
    )
    assert "would narrow the generator" in capsys.readouterr().err
    assert cli_main([*cmd, "--out", str(tmp_path / "big"), "--max-mb", "0.01"]) == 2
    assert "the limit is 0.01 MB" in capsys.readouterr().err

    data = tmp_path / "noise16.npy"
    np.save(data, np.random.RandomState(0).randint(0, 256, (16, 16, 16, 3)).astype(np.uint8))
    train = ["train", "stylegan2", "--data", str(data), "--res", "16", "--out", str(tmp_path / "run")]
    train += ["--kimg", "0.008", "--batch", "4", *TINY_G_ARGS, "--no-progress", "--init-g", str(wide)]
    assert cli_main(train) == 0
    log = (tmp_path / "run" / "log.txt").read_text()
    assert f"starting G and G_ema from {wide}; D from its discriminator/" in log


def _trained_like_d(**kw) -> StyleGAN2Discriminator:
    torch.manual_seed(0)
    cfg = dict(resolution=16, channel_base=256, channel_max=32, mbstd_group_size=4, **kw)
    D = StyleGAN2Discriminator(DiscriminatorConfig(**cfg))
    with torch.no_grad():
        for p in D.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return D.eval()


def test_the_wider_discriminator_gives_the_same_logits():
    D = _trained_like_d()
    r = widen_discriminator(D, channel_base=512, channel_max=64, seed=1)
    assert r.channels_before == {16: 16, 8: 32, 4: 32}
    assert r.channels_after == {16: 32, 8: 64, 4: 64}
    assert r.params_after > 3 * r.params_before and r.max_abs_diff < 1e-5
    img = torch.rand(8, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        a, b = D(img), r.discriminator(img)
    assert a.std() > 0.01 and (a - b).abs().max() < 1e-5  # real, varied logits, and the same
    W = r.discriminator
    assert torch.count_nonzero(W.b16.conv0.weight[:16, 16:]) == 0  # old outputs ignore new inputs
    assert W.b16.conv0.weight[16:].abs().mean() > 0.5  # fresh rows, as a new layer starts
    # the epilogue conv reads the stddev map from the end of its wider input
    assert torch.count_nonzero(W.b4.conv.weight[:32, 32:64]) == 0
    assert torch.allclose(W.b4.conv.weight[:32, 64], D.b4.conv.weight[:, 32] * (65 / 33) ** 0.5)
    # the new 4-px channels copy the old ones, so the minibatch-stddev mean is unchanged
    assert torch.allclose(W.b8.conv1.weight[32:], W.b8.conv1.weight[:32])
    assert torch.equal(W.b8.conv1.bias[32:], W.b8.conv1.bias[:32])
    W.requires_grad_(True)
    W(img).sum().backward()
    assert W.b16.conv0.weight.grad[:16, 16:].abs().sum() > 0  # the zero blocks train
    assert W.b4.out.weight.grad[:, 32:].abs().sum() > 0


def test_discriminator_narrowing_and_uneven_4px_growth_are_refused():
    D = _trained_like_d()
    with pytest.raises(GanlensError, match=r"would narrow the discriminator \(16 px 16 → 8, 8 px 32 → 16"):
        widen_discriminator(D, channel_base=128, channel_max=64)
    with pytest.raises(GanlensError, match="gives 48 channels at 4 px; .* multiple of the current 32"):
        widen_discriminator(D, channel_base=768, channel_max=48)
    # without the stddev layer any width works
    r = widen_discriminator(_trained_like_d(mbstd_num_channels=0), channel_base=768, channel_max=48)
    assert r.channels_after == {16: 48, 8: 48, 4: 48} and r.max_abs_diff < 1e-5


def test_cli_widens_the_discriminator_alone(trained_like, tmp_path, capsys):
    model = tmp_path / "m"
    trained_like.save_pretrained(str(model))
    cmd = ["train", "stylegan2-widen", str(model), "--d-channel-base", "512", "--d-channel-max", "64"]
    assert cli_main([*cmd, "--out", str(tmp_path / "x")]) == 2  # no discriminator/ to widen
    assert "has no discriminator/ folder" in capsys.readouterr().err
    D = _trained_like_d()
    D.save_pretrained(model / "discriminator")
    assert cli_main([*cmd[:3], "--out", str(tmp_path / "y")]) == 2
    assert "nothing to widen" in capsys.readouterr().err
    assert cli_main([*cmd, "--out", str(tmp_path / "wide")]) == 0
    out = capsys.readouterr().out
    assert "G channels 4:32 8:32 16:16 -> 4:32 8:32 16:16" in out  # G kept
    assert "D channels 16:16 8:32 4:32 -> 16:32 8:64 4:64" in out and "widened discriminator/" in out
    D2 = StyleGAN2Discriminator.from_pretrained(tmp_path / "wide" / "discriminator")
    assert D2.config.channel_base == 512 and D2.config.mbstd_group_size == 4
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert (D(img) - D2(img)).abs().max() < 1e-5
    G2 = load_generator(tmp_path / "wide")
    assert all(
        torch.equal(a, b) for a, b in zip(trained_like.state_dict().values(), G2.state_dict().values())
    )
