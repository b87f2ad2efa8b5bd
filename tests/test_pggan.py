"""PGGAN: equality with the official genforce model (stored outputs), both namings, SeFa matrix,
split points and pixel-norm invariance.

``tests/fixtures/pggan/{a,b}`` hold a tiny random 16-px model (a: nearest + conv, b: fused
upsampling) in genforce layout and the images genforce/sefa's ``PGGANGenerator`` made from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.layers import pixel_norm
from ganlens.generators.pggan import PGGANConfig, PGGANGenerator
from ganlens.loaders.genforce_legacy import pggan_from_genforce, to_genforce_pggan_state

FIX = Path(__file__).parent / "fixtures" / "pggan"


def load_fixture(name: str):
    meta = json.loads((FIX / f"{name}_meta.json").read_text())
    state = load_file(str(FIX / f"{name}_genforce.safetensors"))
    z = torch.from_numpy(np.load(FIX / f"{name}_z.npy"))
    ref = torch.from_numpy(np.load(FIX / f"{name}_official.npy"))
    return meta, state, z, ref


def to_mganprior_naming(state: dict[str, torch.Tensor], fused: bool) -> dict[str, torch.Tensor]:
    """genforce → the older HiGAN/mGANprior names (conv.weight / wscale.bias, TF-layout fused kernels)."""
    old = {}
    for k, v in state.items():
        if k == "lod":
            old[k] = v
            continue
        name, field = k.rsplit(".", 1)
        if field == "bias":
            old[f"{name}.wscale.bias"] = v
        elif fused and name.startswith("layer") and int(name[5:]) >= 2 and int(name[5:]) % 2 == 0:
            old[f"{name}.weight"] = v.permute(2, 3, 0, 1)  # [in, out, k, k] -> [k, k, in, out]
        else:
            old[f"{name}.conv.weight"] = v
    return old


@pytest.mark.parametrize("name", ["a", "b"])
def test_matches_official_genforce(name):
    meta, state, z, ref = load_fixture(name)
    G = pggan_from_genforce(state)  # fused_scale inferred from the kernel shapes
    assert G.config == PGGANConfig.from_dict(meta["config"])
    with torch.no_grad():
        img = G(z)
    assert (img - ref).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", ["a", "b"])
def test_mganprior_naming_and_round_trip(name):
    meta, state, z, ref = load_fixture(name)
    G = pggan_from_genforce(to_mganprior_naming(state, meta["config"]["fused_scale"]))
    with torch.no_grad():
        assert (G(z) - ref).abs().max().item() <= 1e-4
    out = to_genforce_pggan_state(G)
    assert set(out) == set(state)
    for k in ["layer0.weight", "layer0.bias", "layer2.weight", "layer5.bias", "output2.weight"]:
        assert torch.equal(out[k], state[k]), k


def test_sefa_matrix_from_flipped_conv_is_exact():
    _, state, _, _ = load_fixture("a")
    G = pggan_from_genforce(state)
    A = G.projection_weights()[0]  # (C·16, z)
    w = state["layer0.weight"]  # (C, z, 4, 4), spatially flipped
    # the official recipe: flip back, swap the first two axes, flatten → Aᵀ
    At = w.flip(2, 3).permute(1, 0, 2, 3).reshape(w.shape[1], -1)
    assert torch.equal(A, At.t())
    # negative control: forgetting the flip gives other images
    bad = {**state, "layer0.weight": w.flip(2, 3)}
    _, _, z, ref = load_fixture("a")
    with torch.no_grad():
        assert (pggan_from_genforce(bad)(z) - ref).abs().max().item() > 1e-2


def test_first_layer_is_affine_in_normalised_z():
    G = PGGANGenerator(PGGANConfig(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)).eval()
    z = torch.randn(2, 16)
    zn = G.normalize_code(z)
    torch.testing.assert_close(zn.norm(dim=1), torch.full((2,), 4.0))  # √z_dim
    A = G.projection_weights()[0]
    with torch.no_grad():
        feat = G.synthesis_head(z, 1)  # lrelu(A z·coef + b)
        y = (zn @ A.t()) * G.dense.weight_gain
        y = y.view(2, -1, 4, 4) + G.dense_bias.view(1, -1, 1, 1)
        torch.testing.assert_close(feat, torch.nn.functional.leaky_relu(y, 0.2))
    torch.testing.assert_close(G.normalize_code(zn), zn)  # idempotent: edits stay on the sphere
    torch.testing.assert_close(pixel_norm(3 * z), zn)


def test_split_feature_shapes_match_mganprior_tables():
    with torch.device("meta"):
        G256 = PGGANGenerator(PGGANConfig(resolution=256))
        G1024 = PGGANGenerator(PGGANConfig(resolution=1024))
    want256 = [(512, 4, 4)] * 2 + [(512, 8, 8)] * 2 + [(512, 16, 16)] * 2 + [(512, 32, 32)] * 2
    want256 += [(256, 64, 64)] * 2 + [(128, 128, 128)] * 2 + [(64, 256, 256)] * 2
    assert [G256.feature_shape(l) for l in range(1, 15)] == want256
    assert G256.num_split_layers == 15
    assert G1024.feature_shape(16) == (32, 512, 512) and G1024.feature_shape(18) == (16, 1024, 1024)
    with pytest.raises(GanlensError, match="composition layer 15 is out of range"):
        G256.feature_shape(15)


def test_feature_scale_invariance():
    """Every layer starts with pixel norm, so scaling the composed feature changes nothing (mGANprior)."""
    G = PGGANGenerator(PGGANConfig(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)).eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        img = G(z)
        for l in (1, 4, 6):
            f = G.synthesis_head(z, l)
            torch.testing.assert_close(G.synthesis_tail(f * 7.5, z, l), img, atol=1e-5, rtol=1e-5)
        with pytest.raises(GanlensError, match="feature has shape"):
            G.synthesis_tail(f[:, :3], z, 6)


def test_loader_errors():
    _, state, _, _ = load_fixture("a")
    with pytest.raises(CheckpointError, match="lod"):
        pggan_from_genforce({**state, "lod": torch.tensor(2.0)})
    with pytest.raises(CheckpointError, match="no layer"):
        pggan_from_genforce({"foo": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="not a tensor"):
        pggan_from_genforce({**state, "layer1.bias": "nope"})
    with pytest.raises(CheckpointError, match="unexpected entries"):
        pggan_from_genforce({**state, "layer3.gamma": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="output2.bias"):
        pggan_from_genforce({k: v for k, v in state.items() if k != "output2.bias"})
    with pytest.raises(GanlensError, match="fused_scale 'x'"):
        PGGANConfig(fused_scale="x")
