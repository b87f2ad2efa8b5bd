"""SeFa core: factorization math, layer parsing, the directions file, editing, baselines, analysis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures.sefa.toys import MatrixGenerator, ToyStyleConfig, ToyStyleGenerator
from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.sefa import (
    Directions,
    canonical_sign,
    edit_codes,
    factorize,
    ganspace,
    interfacegan_boundary,
    parse_layers,
    random_directions,
    render_sweep,
    sample_codes,
    stacked_weights,
)


def tiny_dcgan(first_layer: str = "convtranspose") -> DCGANGenerator:
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=16, ngf=8, first_layer=first_layer))
    return G.eval().requires_grad_(False)


def toy(**kw) -> ToyStyleGenerator:
    return ToyStyleGenerator(ToyStyleConfig(**kw)).eval().requires_grad_(False)


# ---------------------------------------------------------------------- factorization math
@pytest.mark.parametrize("make", [tiny_dcgan, lambda: tiny_dcgan("linear"), toy])
def test_eigenpairs_orthonormal_sorted(make):
    G = make()
    d = factorize(G, "all")
    A = stacked_weights(G, d.layers)  # row-normalised
    assert np.allclose(np.linalg.norm(A, axis=1), 1.0)
    S = A.T @ A
    V = d.vectors.astype(np.float64)
    assert V.shape == (A.shape[1], A.shape[1])
    assert np.allclose(V @ S, d.eigenvalues[:, None] * V, atol=1e-4 * d.eigenvalues[0])  # A^T A v = λ v
    assert np.allclose(V @ V.T, np.eye(len(V)), atol=1e-5)
    assert np.all(np.diff(d.eigenvalues) <= 1e-9)
    assert np.isclose(d.eigenvalues.sum(), A.shape[0])  # trace = number of unit rows


def test_agrees_with_svd_of_normalised_stack():
    G = tiny_dcgan()
    d = factorize(G, "all")
    A = stacked_weights(G, (0,))
    _, s, vh = np.linalg.svd(A, full_matrices=False)
    cos = np.abs(np.sum(vh[:10] * d.vectors[:10], axis=1))
    assert np.all(cos >= 0.9999), cos
    assert np.allclose(s[:10] ** 2, d.eigenvalues[:10], rtol=1e-6)


def test_num_subset_matches_full_and_is_checked():
    G = toy(w_dim=64, channels=(40, 40, 40, 40))
    full, top = factorize(G, num=None), factorize(G, num=5)
    assert len(top) == 5
    assert np.allclose(top.eigenvalues, full.eigenvalues[:5])
    assert np.all(np.abs(np.sum(top.vectors * full.vectors[:5], axis=1)) > 0.9999)
    with pytest.raises(GanlensError, match="latent size allows 1 to 64"):
        factorize(G, num=65)
    with pytest.raises(GanlensError, match="precision 'float16' is not allowed"):
        factorize(G, precision="float16")


def test_canonical_sign_deterministic():
    G = toy()
    a, b = factorize(G), factorize(G)
    assert np.array_equal(a.vectors, b.vectors)
    idx = np.argmax(np.abs(a.vectors), axis=1)
    assert np.all(a.vectors[np.arange(len(a)), idx] > 0)
    v = np.random.RandomState(0).randn(6, 5)
    assert np.array_equal(canonical_sign(v), canonical_sign(-v))
    # the sign convention survives flipping the sign of all weights (A^T A is unchanged)
    neg = MatrixGenerator([-w for w in G.projection_weights().values()])
    assert np.allclose(factorize(neg).vectors, a.vectors, atol=1e-6)


def test_layer_selection_changes_result_and_matches_manual_stack():
    G = toy()
    d01 = factorize(G, "0-1")
    assert d01.layers == (0, 1)
    W = G.projection_weights()
    A = np.concatenate([W[0].numpy(), W[1].numpy()]).astype(np.float64)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    vals = np.linalg.eigvalsh(A.T @ A)[::-1]
    assert np.allclose(d01.eigenvalues, vals, atol=1e-9)
    assert not np.allclose(factorize(G, "all").eigenvalues, d01.eigenvalues)


def test_rosinality_mode_is_svd_of_unnormalised_stack():
    G = toy()  # affines have different scales per layer, so normalisation matters
    r = factorize(G, mode="rosinality")
    A = np.concatenate([w.numpy() for w in G.projection_weights().values()]).astype(np.float64)
    _, s, vh = np.linalg.svd(A, full_matrices=False)
    k = len(s)
    assert np.all(np.abs(np.sum(vh * r.vectors[:k], axis=1)) > 0.9999)
    assert np.allclose(r.eigenvalues[:k], s**2)
    assert r.method == "rosinality" and r.layers == tuple(range(G.num_layers))
    s_ = factorize(G, mode="sefa")
    assert np.abs(np.dot(s_.vectors[0], r.vectors[0])) < 0.9999  # really a different method
    with pytest.raises(GanlensError, match="mode 'pca' is not allowed"):
        factorize(G, mode="pca")


def test_zero_rows_do_not_break_normalisation():
    W = np.random.RandomState(0).randn(6, 4).astype(np.float32)
    W[2] = 0
    d = factorize(MatrixGenerator([W]))
    assert np.all(np.isfinite(d.vectors)) and np.isclose(d.eigenvalues.sum(), 5)


# ---------------------------------------------------------------------- layer parsing
def test_parse_layers_forms():
    G = toy(num_ws=10, channels=(3,) * 10)
    assert parse_layers(G, "all") == tuple(range(10))
    assert parse_layers(G, None) == tuple(range(10))
    assert parse_layers(G, "0-1,4") == (0, 1, 4)
    assert parse_layers(G, " 4, 0-1 ,1") == (0, 1, 4)
    assert parse_layers(G, [3, 2]) == (2, 3)
    assert parse_layers(G, 7) == (7,)
    assert parse_layers(G, "coarse") == (0, 1, 2, 3)
    assert parse_layers(G, "middle,fine") == tuple(range(4, 10))
    with pytest.raises(
        GanlensError, match="layer 10 is out of range; this toystyle has editable layers 0 to 9"
    ):
        parse_layers(G, "8-10")
    with pytest.raises(GanlensError, match="cannot be parsed"):
        parse_layers(G, "0-x")
    with pytest.raises(GanlensError, match="cannot be parsed"):
        parse_layers(G, "3-1")
    with pytest.raises(GanlensError, match="fine.*empty"):
        parse_layers(toy(), "fine")


def test_projection_generator_has_only_layer_zero():
    G = tiny_dcgan()
    assert parse_layers(G, "all") == (0,)
    assert parse_layers(G, "coarse") == (0,)
    with pytest.raises(GanlensError, match=r"layer 1 is out of range; this dcgan has editable layers 0 to 0"):
        factorize(G, "0-1")


# ---------------------------------------------------------------------- directions file
def test_directions_roundtrip_rename_and_mismatch(tmp_path):
    G = toy()
    d = factorize(G, "1-2", model_id="toy-a")
    d.rename(1, "  head   pose ")
    path = d.save(tmp_path / "dirs")
    assert path.name == "dirs.npz" and (tmp_path / "dirs.json").is_file()
    e = Directions.load(tmp_path / "dirs.json")
    assert np.array_equal(e.vectors, d.vectors) and np.allclose(e.eigenvalues, d.eigenvalues)
    assert e.layers == (1, 2) and e.names[1] == "head pose" and e.names[0] == "direction 0"
    assert e.code_shape == (4, 8) and e.model_id == "toy-a" and e.method == "sefa"
    e.check_model(G, "toy-a")
    with pytest.raises(GanlensError, match="computed for model 'toy-a', not 'toy-b'"):
        e.check_model(G, "toy-b")
    with pytest.raises(GanlensError, match="latent size 8 .* has latent size 16"):
        e.check_model(tiny_dcgan())
    with pytest.raises(GanlensError, match="index 8 is out of range; allowed 0 to 7"):
        e.rename(8, "x")
    with pytest.raises(GanlensError, match="does not exist"):
        Directions.load(tmp_path / "nope.npz")
    (tmp_path / "dirs.json").unlink()  # vectors only: loads, and edits then move every w+ row
    bare = Directions.load(tmp_path / "dirs.npz")
    assert bare.layers == () and bare.names[1] == "direction 1"
    _, codes = sample_codes(G, 2, seed=0)
    moved = edit_codes(G, codes, bare, index=0, distance=1.0) - codes
    assert (moved.abs().amax(dim=(0, 2)) > 0).all()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(GanlensError, match="not a readable .npz"):
        Directions.load(tmp_path / "bad.npz")


# ---------------------------------------------------------------------- editing
def test_style_edit_moves_only_selected_rows():
    G = toy(num_ws=6, channels=(4,) * 6)
    d = factorize(G, "1,3")
    _, codes = sample_codes(G, 3, seed=1)
    out = edit_codes(G, codes, d, index=2, distance=1.5)
    delta = out - codes
    assert torch.allclose(delta[:, [1, 3]], 1.5 * d.tensor()[2].expand(3, 2, -1), atol=1e-6)
    assert torch.equal(delta[:, [0, 2, 4, 5]], torch.zeros_like(delta[:, [0, 2, 4, 5]]))
    # explicit layers override the directions' layers; several directions add up
    out2 = edit_codes(G, codes, d, index=[0, 1], distance=[1.0, -2.0], layers="5")
    expect = d.tensor()[0] - 2 * d.tensor()[1]
    assert torch.allclose(out2[:, 5] - codes[:, 5], expect.expand(3, -1), atol=1e-6)
    assert torch.equal(out2[:, :5], codes[:, :5])


def test_truncation_applied_before_edit():
    G = toy()
    z, codes = sample_codes(G, 2, seed=0, trunc_psi=0.5, trunc_cutoff=2)
    w = G.mapping(z)
    assert torch.allclose(codes[:, :2], G.w_avg.lerp(w[:, :2], 0.5))
    assert torch.equal(codes[:, 2:], w[:, 2:])
    with pytest.raises(GanlensError, match="cutoff -1 must be >= 0"):
        sample_codes(G, 2, trunc_cutoff=-1)
    _, all_rows = sample_codes(G, 2, seed=0, trunc_psi=0.5, trunc_cutoff=99)  # past the end: every row
    assert torch.allclose(all_rows, G.w_avg.lerp(w, 0.5))


@pytest.mark.parametrize("make", [tiny_dcgan, toy])
def test_distance_zero_gives_identical_image(make):
    G = make()
    d = factorize(G)
    _, codes = sample_codes(G, 3, seed=2)
    same = edit_codes(G, codes, d, index=0, distance=0.0)
    assert torch.equal(G.synthesis(same), G.synthesis(codes))
    moved = edit_codes(G, codes, d, index=0, distance=3.0)
    assert not torch.allclose(G.synthesis(moved), G.synthesis(codes))


def test_projection_edit_normalises_first():
    pggan = pytest.importorskip("ganlens.generators.pggan")
    G = pggan.PGGANGenerator(pggan.PGGANConfig(resolution=8, z_dim=16, fmaps_base=64, fmaps_max=8)).eval()
    d = factorize(G)
    z = torch.randn(3, 16) * 5
    out = edit_codes(G, z, d, index=0, distance=2.0)
    zn = G.normalize_code(z)
    assert torch.allclose(zn.norm(dim=1), torch.full((3,), 4.0), atol=1e-4)  # pixel norm: |z| = sqrt(16)
    assert torch.allclose(out, zn + 2.0 * d.tensor()[0], atol=1e-6)


def test_multi_codes_and_codes_file(tmp_path):
    G = toy()
    d = factorize(G, "0")
    _, codes = sample_codes(G, 4, seed=0)
    multi = torch.stack([codes, codes * 0.5, codes + 1], 1)  # (N, n_codes, num_ws, w_dim)
    out = edit_codes(G, multi, d, index=0, distance=2.0)
    assert out.shape == multi.shape
    assert torch.allclose(out[:, :, 0] - multi[:, :, 0], 2 * d.tensor()[0].expand(4, 3, -1), atol=1e-6)
    assert torch.equal(out[:, :, 1:], multi[:, :, 1:])
    CodesFile(codes=codes.numpy(), model="toy").save(tmp_path / "c.npz")
    loaded = CodesFile.load(tmp_path / "c.npz").tensor()
    assert torch.equal(
        edit_codes(G, loaded, d, index=0, distance=1.0), edit_codes(G, codes, d, index=0, distance=1.0)
    )


def test_edit_errors():
    G = toy()
    d = factorize(G)
    _, codes = sample_codes(G, 2)
    with pytest.raises(GanlensError, match=r"codes have shape \(2, 3, 8\)"):
        edit_codes(G, codes[:, :3], d, index=0, distance=1.0)
    with pytest.raises(GanlensError, match="index 8 is out of range"):
        edit_codes(G, codes, d, index=8, distance=1.0)
    with pytest.raises(GanlensError, match="2 direction indices but 3 distances"):
        edit_codes(G, codes, d, index=[0, 1], distance=[1, 2, 3])
    with pytest.raises(GanlensError, match="must be finite"):
        edit_codes(G, codes, d, index=0, distance=float("nan"))
    with pytest.raises(GanlensError, match="layer 4 is out of range"):
        edit_codes(G, codes, d, index=0, distance=1.0, layers="4")
    with pytest.raises(GanlensError, match="latent size 16 but this toystyle model has latent size 8"):
        edit_codes(G, codes, factorize(tiny_dcgan()), index=0, distance=1.0)


# ---------------------------------------------------------------------- baselines
def test_random_directions_orthonormal_seeded():
    G = toy(w_dim=16)
    a, b, c = (
        random_directions(G, num=5, seed=3),
        random_directions(G, num=5, seed=3),
        random_directions(G, num=5),
    )
    assert np.allclose(a.vectors @ a.vectors.T, np.eye(5), atol=1e-6)
    assert np.array_equal(a.vectors, b.vectors) and not np.allclose(a.vectors, c.vectors)
    with pytest.raises(GanlensError, match="allows 1 to 16"):
        random_directions(G, num=17)


def test_ganspace_style_finds_dominant_axis():
    G = toy(z_dim=6, w_dim=6)
    with torch.no_grad():
        G.map.copy_(torch.diag(torch.tensor([0.2, 0.3, 5.0, 0.4, 1.0, 0.1])))  # w var largest on axis 2
    d = ganspace(G, num=3, num_samples=2000, seed=1)
    assert abs(d.vectors[0, 2]) > 0.99 and abs(d.vectors[1, 4]) > 0.99
    assert d.eigenvalues[0] == pytest.approx(25.0, rel=0.1)
    assert np.allclose(d.vectors @ d.vectors.T, np.eye(3), atol=1e-5)


def test_ganspace_projection_regresses_back_to_z():
    G = tiny_dcgan()
    d = ganspace(G, num=4, num_samples=400, seed=1)
    assert d.vectors.shape == (4, 16) and np.allclose(np.linalg.norm(d.vectors, axis=1), 1, atol=1e-5)
    assert np.all(np.diff(d.eigenvalues) <= 0)
    # moving z along the first direction changes the first PCA coordinate far more than a random one
    z = G.sample_z(64, seed=5)
    f0 = G.synthesis_head(z, 1).flatten(1)
    gain = (G.synthesis_head(z + d.tensor()[0], 1).flatten(1) - f0).norm(dim=1).mean()
    rnd = random_directions(G, num=1, seed=9).tensor()[0]
    base = (G.synthesis_head(z + rnd, 1).flatten(1) - f0).norm(dim=1).mean()
    assert gain > base


def test_interfacegan_recovers_planted_boundary():
    G = toy(w_dim=16, num_ws=4, channels=(3,) * 4)
    rng = np.random.RandomState(0)
    n_true = rng.randn(16)
    n_true /= np.linalg.norm(n_true)
    X = rng.randn(600, 16)
    y = (X @ n_true + 0.3 > 0).astype(int)
    for method in ("svm", "logistic"):
        d = interfacegan_boundary(G, X, y, method=method, name="smile")
        assert (
            abs(float(d.vectors[0] @ n_true)) > 0.95 and float(d.vectors[0] @ n_true) > 0
        )  # towards label 1
        assert d.metrics["val_accuracy"][0] > 0.9 and d.names == ["smile"]
    # w+ codes are accepted (mean of the chosen rows)
    codes = np.repeat(X[:, None], 4, axis=1)
    assert interfacegan_boundary(G, codes, y).vectors.shape == (1, 16)
    with pytest.raises(GanlensError, match="binary"):
        interfacegan_boundary(G, X, y * 2)
    with pytest.raises(GanlensError, match="600 codes but 10 labels"):
        interfacegan_boundary(G, X, y[:10])


# ---------------------------------------------------------------------- analysis
def test_render_sweep_shapes_and_metrics():
    G = toy(linear=True)  # image is affine in w+: change per unit distance is the same at every distance
    d = factorize(G)
    _, codes = sample_codes(G, 3, seed=0)
    sw = render_sweep(G, codes, d, indices=[0, 2], distances=[-2, -1, 0, 1, 2], batch_size=4, progress=False)
    assert sw.images.shape == (2, 3, 5, 8, 8, 3) and sw.base.shape == (3, 8, 8, 3)
    assert np.array_equal(sw.images[:, :, 2], np.broadcast_to(sw.base, sw.images[:, :, 2].shape))
    # the image is affine in the code, so |Δ| per unit distance is equal on both sides (float images)
    assert np.allclose(sw.change_plus, sw.change_minus, rtol=1e-4)
    assert np.all(sw.change > 0) and sw.heatmaps.shape == (2, 8, 8)
    assert np.isclose(sw.heatmaps.mean(axis=(1, 2)), sw.change, rtol=1e-4).all()
    # manual check of the first direction's metric
    img0 = G.synthesis(codes)
    img1 = G.synthesis(edit_codes(G, codes, d, index=0, distance=1.0))
    assert sw.change[0] == pytest.approx(float((img1 - img0).abs().mean() * 127.5), rel=1e-4)


@pytest.mark.parametrize("first_layer", ["convtranspose", "linear"])
def test_dcgan_projection_matrix_is_the_first_layer_map(first_layer):
    """SPEC §1.5 marks the ConvTranspose orientation as unconfirmed: check y = A·z numerically."""
    G = tiny_dcgan(first_layer)
    A = G.projection_weights()[0]
    z = torch.randn(5, 16)
    y = G.first(z[:, :, None, None] if first_layer == "convtranspose" else z).flatten(1)
    assert torch.allclose(y, z @ A.T, atol=1e-5)
