"""One set of checks for every architecture (tiny configs) and every installed zoo model.

Shapes, no NaNs, seeded determinism, save_pretrained → load_generator equality, the head/tail
split identity at every split layer, SeFa projection-weight shapes and the config JSON round trip.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from ganlens.errors import GanlensError
from ganlens.generators import build_generator
from ganlens.generators.base import Generator
from ganlens.generators.native import load_generator
from ganlens.zoo import list_models, load_model

_SG = {"resolution": 16, "z_dim": 16, "fmaps_base": 128, "fmaps_max": 16}
TINY_CONFIGS = {
    "dcgan-convtranspose": {"arch": "dcgan", "resolution": 16, "z_dim": 8, "ngf": 4},
    "dcgan-linear": {
        "arch": "dcgan", "resolution": 16, "z_dim": 8, "ngf": 4, "first_layer": "linear", "bias": True,
    },
    "pggan": {"arch": "pggan", **_SG},
    "pggan-fused": {"arch": "pggan", **_SG, "fused_scale": True},
    "stylegan": {"arch": "stylegan", **_SG, "w_dim": 16, "mapping_fmaps": 16},
    "stylegan-fused-norepeat": {
        "arch": "stylegan", **_SG, "w_dim": 8, "mapping_layers": 2, "mapping_fmaps": 16,
        "fused_scale": True, "repeat_w": False, "final_tanh": True,
    },
    "stylegan2": {
        "arch": "stylegan2", "resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
        "channel_base": 128, "channel_max": 16,
    },
    "stylegan2-orig": {
        "arch": "stylegan2", "resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
        "channel_base": 128, "channel_max": 16, "architecture": "orig",
    },
    "stylegan2-resnet": {
        "arch": "stylegan2", "resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
        "channel_base": 128, "channel_max": 16, "architecture": "resnet",
    },
}  # fmt: skip


def _randomize(G: Generator) -> Generator:
    """Non-trivial weights everywhere (zero-initialised noise strengths, biases, ... included)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
        for name, b in G.named_buffers():
            if b.is_floating_point() and ("noise" in name or "w_avg" in name):
                b.copy_(torch.randn(b.shape, generator=g))
    return G.eval()


def _build(name: str) -> Generator:
    cfg = TINY_CONFIGS[name]
    if importlib.util.find_spec(f"ganlens.generators.{cfg['arch']}") is None:
        pytest.skip(f"architecture module ganlens.generators.{cfg['arch']} does not exist yet")
    torch.manual_seed(0)
    return _randomize(build_generator(cfg))


def _zoo_params():
    out = []
    for info in list_models():
        mark = (
            () if info.available else pytest.mark.skip(reason=f"{info.name} not installed ({info.install})")
        )
        out.append(pytest.param(info.name, id=f"zoo-{info.name}", marks=mark))
    return out


@pytest.fixture(params=[pytest.param(n, id=n) for n in TINY_CONFIGS] + _zoo_params())
def G(request) -> Generator:  # noqa: N802
    name = request.param
    if name in TINY_CONFIGS:
        return _build(name)
    return load_model(name)


def _codes(G: Generator, n: int = 2, seed: int = 3) -> torch.Tensor:
    z = G.sample_z(n, seed=seed)
    return G.mapping(z, trunc_psi=0.8, trunc_cutoff=2 if G.style_based else None)


def test_shapes_and_finite(G):
    z = G.sample_z(2, seed=1)
    codes = G.mapping(z)
    assert tuple(codes.shape) == (2, *G.code_shape)
    if G.style_based:
        assert G.num_ws == 2 * G.config.log2_resolution - 2
        assert tuple(G.w_avg.shape) == (G.w_dim,)
    with torch.no_grad():
        img = G.synthesis(codes)
    assert tuple(img.shape) == (2, G.img_channels, G.resolution, G.resolution)
    assert torch.isfinite(img).all()
    assert img.std() > 0
    with pytest.raises(GanlensError, match="codes have shape"):
        G.synthesis(torch.zeros(2, G.z_dim + 1))


def test_seeded_determinism(G):
    assert torch.equal(G.sample_z(3, seed=7), G.sample_z(3, seed=7))
    assert not torch.equal(G.sample_z(3, seed=7), G.sample_z(3, seed=8))
    assert torch.equal(G.z_from_seeds([4, 5]), G.z_from_seeds([4, 5]))
    codes = _codes(G)
    with torch.no_grad():
        assert torch.equal(G.synthesis(codes), G.synthesis(codes))
        a = G.synthesis(codes, noise_mode="random", generator=torch.Generator().manual_seed(1))
        b = G.synthesis(codes, noise_mode="random", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_save_load_equality(G, tmp_path):
    G.save_pretrained(str(tmp_path / "m"))
    with pytest.raises(GanlensError, match="exists"):
        G.save_pretrained(str(tmp_path / "m"))
    G2 = load_generator(tmp_path / "m")
    assert type(G2) is type(G) and G2.config == G.config
    sd, sd2 = G.state_dict(), G2.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    codes = _codes(G)
    with torch.no_grad():
        assert torch.equal(G.synthesis(codes), G2.synthesis(codes))
        assert torch.equal(G.mapping(G.sample_z(2, seed=9)), G2.mapping(G2.sample_z(2, seed=9)))


def test_split_identity_every_layer(G):
    codes = _codes(G)
    with torch.no_grad():
        img = G.synthesis(codes)
        for layer in range(1, G.num_split_layers):
            f = G.synthesis_head(codes, layer)
            assert tuple(f.shape) == (2, *G.feature_shape(layer)), layer
            torch.testing.assert_close(G.synthesis_tail(f, codes, layer), img, rtol=1e-5, atol=1e-5)
    for bad in (0, G.num_split_layers):
        with pytest.raises(GanlensError, match="out of range"):
            G.synthesis_head(codes, bad)


def test_projection_weights(G):
    W = G.projection_weights()
    d = G.w_dim if G.style_based else G.z_dim
    expected = set(range(G.num_ws)) if G.style_based else {0}
    assert set(W) == expected
    for i, A in W.items():
        assert A.ndim == 2 and A.shape[1] == d and A.shape[0] > 0, (i, tuple(A.shape))
        assert not A.requires_grad and torch.isfinite(A).all()


def test_config_json_round_trip(G):
    cfg = G.config
    d = json.loads(cfg.to_json())
    assert d["arch"] == G.arch
    again = type(cfg).from_dict(d)
    assert again == cfg
    G2 = build_generator(d)
    assert type(G2) is type(G)
    assert {k: tuple(v.shape) for k, v in G2.state_dict().items()} == {
        k: tuple(v.shape) for k, v in G.state_dict().items()
    }


@pytest.mark.parametrize(
    ("arch", "base", "cap"),
    [("pggan", "fmaps_base", "fmaps_max"), ("stylegan", "fmaps_base", "fmaps_max"),
     ("stylegan2", "channel_base", "channel_max")],
)  # fmt: skip
def test_channel_rule_and_its_errors(arch, base, cap):
    """One channel rule, min(base // r, max), with the same checks for every NVIDIA-style config."""
    from ganlens.generators import get_architecture

    def config_from_dict(d):
        return get_architecture(arch).config_class.from_dict(d)

    cfg = config_from_dict({"arch": arch, "resolution": 64, "z_dim": 8, base: 1024, cap: 32})
    assert [cfg.nf(r) for r in (4, 16, 32, 64)] == [32, 32, 32, 16]
    with pytest.raises(GanlensError, match=f"{base} 32 gives no channels at resolution 64; use at least 64"):
        config_from_dict({"arch": arch, "resolution": 64, "z_dim": 8, base: 32, cap: 32})
    for bad in (0, -4, 2.5, True):
        with pytest.raises(GanlensError, match=f"{cap} {bad!r} must be a positive integer"):
            config_from_dict({"arch": arch, "resolution": 64, "z_dim": 8, base: 1024, cap: bad})
