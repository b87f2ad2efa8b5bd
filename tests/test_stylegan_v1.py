"""StyleGAN v1: equality with the official genforce model (stored outputs), loader, exporter, behaviour.

The fixtures in ``tests/fixtures/stylegan`` were made once by exporting tiny random ganlens models
to genforce layout, loading them strictly into genforce/sefa's ``StyleGANGenerator`` (CPU) and
storing its images for fixed z with stored noise (``randomize_noise=False``):

* ``a``: 16 px, nearest + conv upsampling, ``repeat_w=True``, ψ 0.7 on rows < 4;
* ``b``: 16 px, fused transposed-conv upsampling, ``repeat_w=False`` with tanh, ψ 0.6 on rows < 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator, instance_norm, mix_styles
from ganlens.loaders.genforce_legacy import stylegan_from_genforce, to_genforce_stylegan_state

FIX = Path(__file__).parent / "fixtures" / "stylegan"
TINY = dict(resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16)


def load_fixture(name: str):
    meta = json.loads((FIX / f"{name}_meta.json").read_text())
    state = load_file(str(FIX / f"{name}_genforce.safetensors"))
    z = torch.from_numpy(np.load(FIX / f"{name}_z.npy"))
    ref = torch.from_numpy(np.load(FIX / f"{name}_official.npy"))
    return meta, state, z, ref


def run(G, z, meta):
    with torch.no_grad():
        return G.synthesis(
            G.mapping(z, trunc_psi=meta["trunc_psi"], trunc_cutoff=meta["trunc_cutoff"]), noise_mode="const"
        )


@pytest.mark.parametrize("name", ["a", "b"])
def test_matches_official_genforce(name):
    meta, state, z, ref = load_fixture(name)
    cfg = meta["config"]
    G = stylegan_from_genforce(state, fused_scale=cfg["fused_scale"])
    assert G.config == StyleGANConfig.from_dict(cfg)  # everything but fused_scale is inferred from shapes
    img = run(G, z, meta)
    assert img.shape == ref.shape
    assert (img - ref).abs().max().item() <= 1e-4


def test_negative_controls_fail():
    """The checks above can fail: the classic conversion mistakes change the image a lot."""
    meta, state, z, ref = load_fixture("b")
    # the style scale half stored with +1 already (double +1)
    bad = dict(state)
    c = bad["synthesis.layer3.style.bias"].shape[0] // 2
    bad["synthesis.layer3.style.bias"] = bad["synthesis.layer3.style.bias"].clone()
    bad["synthesis.layer3.style.bias"][:c] += 1
    G = stylegan_from_genforce(bad, fused_scale=True)
    assert (run(G, z, meta) - ref).abs().max().item() > 1e-2
    # the fused layers read as nearest + conv
    G = stylegan_from_genforce(state, fused_scale=False, final_tanh=True)
    assert (run(G, z, meta) - ref).abs().max().item() > 1e-2


@pytest.mark.parametrize("name", ["a", "b"])
def test_export_round_trip(name):
    meta, state, _, _ = load_fixture(name)
    G = stylegan_from_genforce(state, fused_scale=meta["config"]["fused_scale"])
    out = to_genforce_stylegan_state(G)
    assert set(out) == set(state)
    last = G.num_ws // 2 - 1
    for k, v in state.items():
        if k.startswith("synthesis.output") and not k.startswith(f"synthesis.output{last}."):
            continue  # unused lower-resolution ToRGB heads are not kept
        assert torch.equal(out[k], v), k


def test_num_ws_table():
    for res, n in [(1024, 18), (512, 16), (256, 14), (8, 4)]:
        assert StyleGANConfig(resolution=res).num_ws == n
    cfg = StyleGANConfig()
    assert [cfg.nf(r) for r in (4, 32, 64, 128, 256, 512, 1024)] == [512, 512, 256, 128, 64, 32, 16]
    assert [cfg.is_fused(r) for r in (64, 128, 1024)] == [False, True, True]


def test_truncation_rows_and_psi():
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    with torch.no_grad():
        G.mapping_net.w_avg.normal_()
    z = torch.randn(3, 16)
    ws = G.mapping(z)
    assert torch.equal(ws[:, 0], ws[:, 5])  # repeat_w: one w on every row
    wt = G.mapping(z, trunc_psi=0.7, trunc_cutoff=2)
    avg = G.w_avg
    torch.testing.assert_close(wt[:, :2], avg + 0.7 * (ws[:, :2] - avg))
    assert torch.equal(wt[:, 2:], ws[:, 2:])
    assert torch.equal(G.mapping(z, trunc_psi=0.5, trunc_cutoff=0), ws)


def test_repeat_w_false_has_per_row_average():
    G = StyleGANGenerator(StyleGANConfig(**TINY, repeat_w=False, final_tanh=True)).eval()
    assert G.mapping_net.w_avg.shape == (G.num_ws * 16,)
    with torch.no_grad():
        G.mapping_net.w_avg.normal_()
    z = torch.randn(2, 16)
    ws = G.mapping(z)
    assert ws.shape == (2, G.num_ws, 16) and not torch.equal(ws[:, 0], ws[:, 1])
    wt = G.mapping(z, trunc_psi=0.0)
    torch.testing.assert_close(wt, G.ws_avg.expand(2, -1, -1))
    assert G.w_avg.shape == (16,)
    assert G.latent_spaces == ("z", "w+")  # no single-w space to invert into
    assert G.synthesis(ws).abs().max() <= 1.0  # tanh output


def test_noise_modes_and_buffers():
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    with torch.no_grad():
        for layer in G.layers:
            layer.noise_strength.fill_(0.5)
    ws = G.mapping(torch.randn(2, 16))
    bufs = G.noise_buffers()
    assert [tuple(b.shape) for b in bufs] == [(1, 1, r, r) for r in (4, 4, 8, 8, 16, 16)]
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const")
        assert torch.equal(a, G.synthesis(ws, noise_mode="const"))
        r1 = G.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(1))
        r1b = G.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(1))
        r2 = G.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(2))
        n = G.synthesis(ws, noise_mode="none")
        assert torch.equal(r1, r1b) and not torch.allclose(r1, r2) and not torch.allclose(a, n)
        bufs[3].normal_()  # the projector edits these in place
        assert not torch.allclose(a, G.synthesis(ws, noise_mode="const"))
    with pytest.raises(GanlensError, match="noise mode 'fresh'"):
        G.synthesis(ws, noise_mode="fresh")


def test_per_channel_noise_strength():
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    ws = G.mapping(torch.randn(1, 16))
    with torch.no_grad():
        base = G.synthesis_head(ws, 2)
        G.layers[1].noise_strength[3] = 2.0  # only channel 3 of layer 1 gets noise
        feat = G.synthesis_head(ws, 2)
    changed = (feat - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [i == 3 for i in range(feat.shape[1])]


def test_style_mixing_rows():
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    a, b = G.mapping(torch.randn(2, 16)), G.mapping(torch.randn(1, 16))
    m = mix_styles(a, b, range(2, 4))
    assert torch.equal(m[:, 2:4], b[:, 2:4].expand(2, -1, -1))
    assert torch.equal(m[:, :2], a[:, :2]) and torch.equal(m[:, 4:], a[:, 4:])
    with pytest.raises(GanlensError, match="row 9 is out of range"):
        mix_styles(a, b, [9])


def test_adain_plus_one_at_run_time():
    """With zero style weights/biases AdaIN is the identity on the instance-normalised feature."""
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    with torch.no_grad():
        G.layers[0].affine.weight.zero_()
        G.layers[0].affine.bias.zero_()
        ws = G.mapping(torch.randn(2, 16))
        feat = G.synthesis_head(ws, 1)
        x = G.layers[0].const.expand(2, -1, -1, -1) + G.layers[0].bias.view(1, -1, 1, 1)
        y = torch.nn.functional.leaky_relu(x, 0.2)
        y = y - y.mean(dim=(2, 3), keepdim=True)
        y = y / (y.square().mean(dim=(2, 3), keepdim=True) + 1e-8).sqrt()  # instance norm, by hand
        torch.testing.assert_close(feat, y)
        torch.testing.assert_close(instance_norm(x), instance_norm(3 * x + 1))


def test_config_and_loader_errors():
    with pytest.raises(GanlensError, match="fused_scale 'yes'"):
        StyleGANConfig(fused_scale="yes")
    with pytest.raises(GanlensError, match="fmaps_base 8"):
        StyleGANConfig(resolution=16, fmaps_base=8)
    _, state, _, _ = load_fixture("a")
    broken = {k: v for k, v in state.items() if k != "synthesis.layer2.style.bias"}
    with pytest.raises(CheckpointError, match="layers.2.affine.bias"):
        stylegan_from_genforce(broken)
    with pytest.raises(CheckpointError, match="lod"):
        stylegan_from_genforce({**state, "synthesis.lod": torch.tensor(1.0)})
    with pytest.raises(CheckpointError, match="unexpected entries"):
        stylegan_from_genforce({**state, "synthesis.extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="no 'synthesis.layer0.const'"):
        stylegan_from_genforce({"layer0.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="conditional"):
        stylegan_from_genforce({**state, "mapping.label_weight": torch.zeros(2, 16)})


def test_idinvert_naming_matches_official():
    """idinvert_pytorch's generator (In-Domain inversion / TediGAN 256): other names, TF-layout fused
    kernels, one (w_dim,) w_avg for repeat_w=False. Stored output of its StyleGANGeneratorNet."""
    meta = json.loads((FIX / "idinvert_meta.json").read_text())
    state = load_file(str(FIX / "idinvert_state.safetensors"))
    z = torch.from_numpy(np.load(FIX / "idinvert_z.npy"))
    ref = torch.from_numpy(np.load(FIX / "idinvert_official.npy"))
    G = stylegan_from_genforce(state)
    assert (
        not G.config.repeat_w and G.config.final_tanh and G.config.fused_scale is True
    )  # read from the names
    assert (run(G, z, meta) - ref).abs().max().item() <= 1e-4
    torch.testing.assert_close(G.ws_avg, state["truncation.w_avg"].expand(G.num_ws, -1))


def test_mapping_output_is_editable_in_place():
    G = StyleGANGenerator(StyleGANConfig(**TINY)).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 16))
        ws[:, 1] += 1.0  # SeFa/edit tools move single rows
    assert not torch.equal(ws[:, 0], ws[:, 1])
