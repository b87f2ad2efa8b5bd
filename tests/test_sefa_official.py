"""SeFa against the official genforce/sefa ``factorize_weight`` (SPEC §6.6), and on the real
StyleGAN/StyleGAN2 modules of this package.

``fixtures/sefa/official_factorize.npz`` was produced once by running the official function
(see ``fixtures/sefa/make_official_fixture.py``); its outputs were only sorted by eigenvalue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures.sefa.make_official_fixture import BIG_SHAPES, big_matrices
from fixtures.sefa.toys import MatrixGenerator
from ganlens.sefa import edit_codes, factorize, sample_codes, stacked_weights

FIXTURE = Path(__file__).parent / "fixtures" / "sefa" / "official_factorize.npz"


@pytest.fixture(scope="module")
def official():
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


def _compare(ours, vecs, vals, top=10):
    cos = np.abs(np.sum(ours.vectors[:top].astype(np.float64) * vecs[:top], axis=1))
    assert np.all(cos >= 0.9999), cos
    rel = np.abs(ours.eigenvalues[:top] - vals[:top]) / np.abs(vals[:top])
    assert np.all(rel <= 1e-4), rel


@pytest.mark.parametrize("spec,key", [("all", "all"), ("0-1", "0_1")])
def test_matches_official_on_genforce_stylegan2(official, spec, key):
    n = int(official["tiny_num_layers"])
    G = MatrixGenerator([official[f"tiny_A{i}"] for i in range(n)])
    ours = factorize(G, spec)
    assert list(ours.layers) == list(official[f"tiny_{key}_layers"])
    _compare(ours, official[f"tiny_{key}_vectors"], official[f"tiny_{key}_values"])


def test_matches_official_on_stylegan2_1024_shapes(official):
    G = MatrixGenerator(big_matrices())
    assert [m.shape[0] for m in G.projection_weights().values()] == BIG_SHAPES
    ours = factorize(G, "all")
    assert list(ours.layers) == list(official["big_layers"])
    _compare(ours, official["big_vectors"], official["big_values"])
    # the fast path (float32 product, top-K subset solve) agrees too
    fast = factorize(G, "all", num=10, precision="float32")
    _compare(fast, official["big_vectors"], official["big_values"])
    # and the full spectrum matches the official eigenvalues (sum = number of unit rows)
    assert np.allclose(ours.eigenvalues, official["big_values"], rtol=1e-3, atol=1e-3)


def test_official_fixture_is_not_trivially_satisfied(official):
    """Negative control: the unnormalised (rosinality) stack does not pass the official comparison."""
    n = int(official["tiny_num_layers"])
    G = MatrixGenerator([official[f"tiny_A{i}"] * (1 + 3 * i) for i in range(n)])  # uneven layer scales
    ros = factorize(G, "all", mode="rosinality")
    cos = np.abs(np.sum(ros.vectors[:10] * official["tiny_all_vectors"][:10], axis=1))
    assert cos.min() < 0.9999


# ---------------------------------------------------------------------- the package's own StyleGANs
def _tiny(arch):
    if arch == "stylegan2":
        mod = pytest.importorskip("ganlens.generators.stylegan2")
        cfg = mod.StyleGAN2Config(
            resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
        )
        G = mod.StyleGAN2Generator(cfg)
    else:
        mod = pytest.importorskip("ganlens.generators.stylegan")
        cfg = mod.StyleGANConfig(
            resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16
        )
        G = mod.StyleGANGenerator(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return G.eval().requires_grad_(False)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan"])
def test_real_stylegan_factorize_and_edit(arch):
    G = _tiny(arch)
    d = factorize(G, "coarse")
    assert d.layers == (0, 1, 2, 3) and d.vectors.shape == (16, 16)
    A = stacked_weights(G, d.layers)
    assert np.allclose(d.vectors[:3] @ (A.T @ A), d.eigenvalues[:3, None] * d.vectors[:3], atol=1e-4)
    _, codes = sample_codes(G, 2, seed=0, trunc_psi=0.7, trunc_cutoff=8)
    out = edit_codes(G, codes, d, index=0, distance=2.0)
    changed = (out - codes).abs().amax(dim=(0, 2)) > 0
    assert changed.tolist() == [i < 4 for i in range(G.num_ws)]
    assert torch.equal(G.synthesis(edit_codes(G, codes, d, index=0, distance=0.0)), G.synthesis(codes))
    assert not torch.allclose(G.synthesis(out), G.synthesis(codes))
    r = factorize(G, mode="rosinality")
    assert r.layers == tuple(range(G.num_ws))


def test_our_stylegan2_matches_official_genforce_and_rosinality(official):
    """Our StyleGAN2 class vs the official tools run on its genforce / rosinality exports."""
    pytest.importorskip("ganlens.generators.stylegan2")
    from fixtures.sefa.make_official_fixture import tiny_ours

    G = tiny_ours()
    ours = factorize(G, "all")
    assert list(ours.layers) == list(official["export_layers"])
    _compare(ours, official["export_vectors"], official["export_values"])
    # rosinality's script: raw conv modulations + the 4x4 ToRGB modulation (our docs say so) ...
    W = G.projection_weights()
    to_rgb1 = G.synthesis_network.b4.torgb.affine.weight.detach()
    A = torch.cat([W[i] for i in range(G.num_ws - 1)] + [to_rgb1]).double().numpy()
    _, _, vh = np.linalg.svd(A, full_matrices=False)
    ros = official["export_ros_vectors"]
    assert np.all(np.abs(np.sum(vh[:10] * ros, axis=1)) >= 0.9999)
    # ... and our rosinality mode uses exactly those matrices (via StyleGAN2.rosinality_weights)
    mine = factorize(G, mode="rosinality")
    assert np.all(np.abs(np.sum(mine.vectors[:10] * ros, axis=1)) >= 0.9999)
    # a layer subset falls back to the chosen w+ rows' matrices (the final ToRGB is not in it)
    sub = factorize(G, "0-2", mode="rosinality")
    _, _, vh = np.linalg.svd(torch.cat([W[0], W[1], W[2]]).double().numpy(), full_matrices=False)
    assert np.all(np.abs(np.sum(sub.vectors[:10] * vh[:10], axis=1)) >= 0.9999)


def test_pggan_loaded_from_genforce_matches_official(official):
    """genforce PGGAN checkpoint → our loader → SeFa equals the official code on genforce's model."""
    legacy = pytest.importorskip("ganlens.loaders.genforce_legacy")
    state = {
        k.split("/", 1)[1]: torch.from_numpy(v) for k, v in official.items() if k.startswith("pggan_state/")
    }
    G = legacy.pggan_from_genforce(state)
    ours = factorize(G, "all")
    assert ours.layers == (0,) and list(official["pggan_layers"]) == [0]
    _compare(ours, official["pggan_vectors"], official["pggan_values"], top=16)
