"""ganlens.analysis: attribute change per direction, supervised boundaries, reports, realism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlens.analysis import (
    RealReference,
    analyze_directions,
    generate,
    markdown_summary,
    markdown_table,
    quantize,
    realism_report,
    sefa_by_group,
    standard_sets,
    supervised_boundaries,
    write_analysis,
)
from ganlens.classifier import AttributeClassifier, ClassifierConfig
from ganlens.data.toonfaces.schema import CATEGORICAL, CONTINUOUS, Factor, Schema
from ganlens.errors import GanlensError
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ganlens.sefa import Directions, sample_codes


@pytest.fixture(scope="module")
def G():  # noqa: N802 (the generator is G everywhere in ganlens)
    torch.manual_seed(0)
    return (
        StyleGAN2Generator(
            StyleGAN2Config(
                resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
            )
        )
        .eval()
        .requires_grad_(False)
    )


@pytest.fixture(scope="module")
def clf():
    torch.manual_seed(1)
    return AttributeClassifier(ClassifierConfig(resolution=16, channels=(8, 16), feature_dim=16)).eval()


class PixelClassifier:
    """A fake classifier that reads image statistics: red of the top-left quadrant, green of the
    bottom-right quadrant, overall brightness (as a 2-class probability), a constant factor and a
    conditional factor that never applies."""

    schema = Schema(
        factors=(
            Factor("red_tl", CONTINUOUS, "", range=(-2.0, 2.0)),
            Factor("green_br", CONTINUOUS, "", range=(-2.0, 2.0)),
            Factor("bright", CATEGORICAL, "", classes=("dark", "bright")),
            Factor("constant", CATEGORICAL, "", classes=("a", "b")),
            Factor("hidden", CONTINUOUS, "", range=(0.0, 1.0), requires=("constant", ("b",))),
        )
    )

    @staticmethod
    def stats(x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = x.shape[-1] // 2
        return {"red_tl": x[:, 0, :h, :h].mean((1, 2)), "green_br": x[:, 1, h:, h:].mean((1, 2))}

    def predict(self, images, *, batch_size: int = 256, probs: bool = False):
        s = self.stats(images.float())
        n = images.shape[0]
        p_bright = torch.sigmoid(4 * images.float().mean((1, 2, 3)))
        out = dict(s)
        out["bright"] = torch.stack([1 - p_bright, p_bright], 1)
        out["constant"] = torch.tensor([[0.7, 0.3]]).expand(n, 2)
        out["hidden"] = images.float().std((1, 2, 3))
        if not probs:
            out["bright"], out["constant"] = out["bright"].argmax(1), out["constant"].argmax(1)
        return out


def _gradient_direction(G, stat: str, codes: torch.Tensor) -> np.ndarray:
    """Mean gradient (over samples and w+ rows) of one statistic with respect to w: the unit
    direction along which that statistic rises fastest to first order."""
    c = codes.clone().requires_grad_(True)
    with torch.enable_grad():
        PixelClassifier.stats(G.synthesis(c))[stat].sum().backward()
    g = c.grad.sum((0, 1)).double().numpy()
    return g / np.linalg.norm(g)


def test_known_directions_are_detected(G):
    fake = PixelClassifier()
    _, codes = sample_codes(G, 16, seed=5)
    v_red, v_green = _gradient_direction(G, "red_tl", codes), _gradient_direction(G, "green_br", codes)
    dirs = Directions(
        vectors=np.stack([v_red, v_green, -v_red]),
        eigenvalues=np.ones(3),
        layers=range(G.num_ws),
        method="custom",
    )
    res = analyze_directions(G, {"grad": dirs}, fake, distance=0.5, num_samples=16, seed=5, progress=False)
    assert res.effects.shape == (3, 5)
    red, green = res.rows[0], res.rows[1]
    assert red.top_factor == "red_tl" and red.change == "red_tl ↑"
    assert green.top_factor == "green_br" and green.change == "green_br ↑"
    assert res.rows[2].top_factor == "red_tl" and res.rows[2].change == "red_tl ↓"  # the opposite direction
    i_red, i_green, i_const, i_hidden = (
        res.factors.index(k) for k in ("red_tl", "green_br", "constant", "hidden")
    )
    assert res.effects[0, i_red] > res.effects[1, i_red] and res.effects[1, i_green] > res.effects[0, i_green]
    np.testing.assert_allclose(res.effects[:, i_const], 0.0, atol=1e-7)  # a constant factor never moves
    assert np.isnan(res.effects[:, i_hidden]).all()  # its condition never holds
    assert res.signed[0, i_red] > 0 > res.signed[2, i_red]
    # leakage = mean change of every other applicable factor
    others = [j for j in range(5) if j not in (i_red, i_hidden)]
    assert red.leakage == pytest.approx(np.mean(res.effects[0, others]))
    # the measured change matches a direct computation of the same edit
    plus = codes.clone()
    plus += 0.5 * torch.from_numpy(v_red).float()
    minus = codes - 0.5 * torch.from_numpy(v_red).float()
    with torch.no_grad():
        base = PixelClassifier.stats(G.synthesis(codes))["red_tl"]
        want = (
            torch.cat(
                [(PixelClassifier.stats(G.synthesis(x))["red_tl"] - base).abs() for x in (plus, minus)]
            ).mean()
            / 4.0
        )
    assert res.effects[0, i_red] == pytest.approx(float(want), rel=1e-4)


def test_shapes_determinism_and_zero_distance(G, clf):
    sets = sefa_by_group(G, num=3)
    assert list(sets) == ["sefa-coarse", "sefa-middle"]  # 16 px: 6 w+ rows, so no fine group
    assert sets["sefa-coarse"].layers == (0, 1, 2, 3) and sets["sefa-middle"].layers == (4, 5)
    kw = {"distance": 2.0, "num_samples": 6, "seed": 3, "progress": False}
    a = analyze_directions(G, sets, clf, **kw)
    b = analyze_directions(G, sets, clf, **kw)
    assert a.effects.shape == (6, len(clf.schema)) and len(a.rows) == 6
    np.testing.assert_array_equal(a.effects, b.effects)
    assert [r.top_factor for r in a.rows] == [r.top_factor for r in b.rows]
    assert [r.label for r in a.rows] == ["sefa-coarse"] * 3 + ["sefa-middle"] * 3
    finite = a.effects[np.isfinite(a.effects)]
    assert (finite >= 0).all() and (finite <= 1).all() and finite.max() > 0
    flips = a.flip_rates[np.isfinite(a.flip_rates)]
    assert ((flips >= 0) & (flips <= 1)).all()
    zero = analyze_directions(G, sets, clf, **{**kw, "distance": 0.0})
    assert np.nanmax(zero.effects) < 1e-5
    s = a.summary()
    assert [x["set"] for x in s] == ["sefa-coarse", "sefa-middle"] and s[0]["directions"] == 3


def test_supervised_boundary_finds_its_factor(G):
    fake = PixelClassifier()
    rep = supervised_boundaries(G, fake, factors=["red_tl", "green_br", "constant"], num_samples=200, seed=0)
    assert rep.directions is not None and rep.directions.names == ["red_tl", "green_br"]
    assert "constant" in rep.skipped  # one class only: no boundary
    assert rep.positive["red_tl"].startswith("red_tl >")
    res = analyze_directions(
        G, {"supervised": rep.directions}, fake, distance=1.0, num_samples=16, progress=False
    )
    assert [r.target for r in res.rows] == ["red_tl", "green_br"]
    assert [r.hit for r in res.rows] == [True, True]
    assert [r.change for r in res.rows] == ["red_tl ↑", "green_br ↑"]  # boundaries point to label 1
    assert res.summary()[0]["hit_rate"] == 1.0


def test_standard_sets_and_report(G, clf, tmp_path):
    sets, rep = standard_sets(
        G, clf, num=2, ganspace_samples=200, boundary_samples=80, boundary_factors=["smile", "glasses"]
    )
    assert {"sefa-coarse", "sefa-middle", "ganspace", "random"} <= set(sets)
    res = analyze_directions(G, sets, clf, num_samples=4, progress=False)
    paths = write_analysis(res, tmp_path / "an")
    md = paths["markdown"].read_text()
    assert md.count("| sefa-coarse #") == 2 and "| ganspace |" in md
    assert paths["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    js = json.loads(paths["json"].read_text())
    assert len(js["rows"]) == len(res.rows) and js["factors"] == list(clf.schema.names)
    assert markdown_table(res).count("\n") == len(res.rows) + 1
    assert markdown_summary(res).count("\n") == len(res.set_labels()) + 1


def test_bad_inputs(G, clf):
    wrong = Directions(vectors=np.eye(8)[:2], eigenvalues=np.ones(2), layers=(0,))
    with pytest.raises(GanlensError, match="direction set 'x'.*latent size 8"):
        analyze_directions(G, {"x": wrong}, clf, num_samples=2, progress=False)
    ok = sefa_by_group(G, num=1)
    with pytest.raises(GanlensError, match="must have a 'schema'"):
        analyze_directions(G, ok, object(), num_samples=2, progress=False)
    with pytest.raises(GanlensError, match="no directions"):
        analyze_directions(G, {}, clf, progress=False)
    with pytest.raises(GanlensError, match="unknown factor 'nose'"):
        supervised_boundaries(G, clf, factors=["nose"], num_samples=100)
    with pytest.raises(GanlensError, match="distance"):
        analyze_directions(G, ok, clf, distance=float("nan"), progress=False)


def test_realism_report_floor_model_ceiling(G, clf):
    rep = realism_report(G, clf, n=12, seed=0, progress=False)
    assert rep.n == 12
    assert rep.fd_floor > 0 and np.isfinite(rep.fd_model) and np.isfinite(rep.fd_ceiling)
    assert rep.ratio == pytest.approx(rep.fd_model / rep.fd_floor)
    span = rep.fd_ceiling - rep.fd_floor
    assert rep.gap_closed == pytest.approx((rep.fd_ceiling - rep.fd_model) / span)
    assert set(rep.tv_model) == set(clf.schema.names)
    assert all(0 <= v <= 1 for v in rep.tv_floor.values() if np.isfinite(v))
    assert "floor" in rep.table() and rep.table().count("\n") == 4 and "ceiling" in rep.tv_table()
    assert set(rep.spread_model) == set(clf.schema.names) and "| spread model |" in rep.tv_table()
    # the same real images for both sets give FD ≈ 0 (so the floor really compares two sets)
    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    same = realism_report(G, clf, n=12, real_a=x, real_b=x, progress=False)
    assert same.fd_floor < 1e-6 and all(v == 0 for v in same.tv_floor.values() if np.isfinite(v))
    assert all(v == pytest.approx(1.0) for v in same.spread_floor.values() if np.isfinite(v))
    # KID, precision and recall for every row of the main table, in its order
    names = [line.split(" | ")[0][2:] for line in rep.table().splitlines()[2:]]
    assert list(rep.quality) == names == ["real set B (floor)", "model", "untrained, same config (ceiling)"]
    assert all(0 <= p <= 1 and 0 <= r <= 1 for _, p, r in rep.quality.values())
    assert rep.quality_table().count("\n") == 4 and "| precision | recall |" in rep.quality_table()
    kid, prec, rec = same.quality["real set B (floor)"]  # a set against itself: covered both ways
    assert abs(kid) < 1e-5 and prec == rec == 1.0  # unbiased MMD² of a set with itself: −O(1/n²)


def test_analyze_cli(G, clf, tmp_path, capsys):
    from ganlens.classifier import save_classifier
    from ganlens.cli.main import main

    G.save_pretrained(str(tmp_path / "G"))
    save_classifier(clf, tmp_path / "C")
    dirs = sefa_by_group(G, num=2)["sefa-middle"]
    dirs.save(tmp_path / "mine")
    common = ["analyze", str(tmp_path / "G"), "--classifier", str(tmp_path / "C"), "--no-progress"]
    args = [*common, "--sets", "sefa,random", "--num", "2", "--samples", "3", "--out", str(tmp_path / "o")]
    assert main([*args, "--directions", str(tmp_path / "mine.npz")]) == 0
    md = (tmp_path / "o" / "analysis.md").read_text()
    assert (
        "| sefa-coarse #1 |" in md and "| random #0 |" in md and "| mine #1 |" in md and "ganspace" not in md
    )
    from PIL import Image

    fig = Image.open(tmp_path / "o" / "edits.png")  # 2 strongest of 4 sets, 3 samples x (-d, 0, +d)
    assert fig.height == 4 * 2 * (16 + 4) and fig.width == 230 + 9 * 18 + 2
    assert main(args) == 2  # the folder is not empty now
    assert "--overwrite" in capsys.readouterr().err
    assert main([*common, "--sets", "pca", "--out", str(tmp_path / "p")]) == 2
    assert "--sets 'pca' is not allowed" in capsys.readouterr().err
    assert main([*common, "--sets", "none", "--out", str(tmp_path / "q")]) == 2
    assert "nothing to analyse" in capsys.readouterr().err
    assert main([*common, "--trunc", "5", "--out", str(tmp_path / "r")]) == 2
    assert "truncation psi 5.0 is out of range" in capsys.readouterr().err


def test_gaussian_blur_keeps_flat_images_and_mass():
    from ganlens.analysis import gaussian_blur

    flat = torch.full((2, 3, 12, 12), 0.25)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat, atol=1e-6)
    dot = torch.zeros(1, 1, 21, 21)
    dot[0, 0, 10, 10] = 1.0
    out = gaussian_blur(dot, 1.5)
    assert out.shape == dot.shape and out.sum().item() == pytest.approx(1.0, abs=1e-5)
    # separable Gaussian: the 1-D profile through the centre falls off as exp(-x²/2σ²)
    row = out[0, 0, 10]
    assert (row[11] / row[10]).item() == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-4)
    assert torch.equal(out, out.flip(-1)) and torch.equal(out, out.transpose(-1, -2))
    with pytest.raises(GanlensError, match="blur sigma 0 must be in"):
        gaussian_blur(dot, 0)


def test_realism_report_calibration_rows(G, clf):
    from ganlens.analysis.realism import CALIBRATION_SIGMAS, gaussian_blur

    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    rep = realism_report(G, clf, n=12, real_a=x, real_b=x, calibrate=True, progress=False)
    assert list(rep.calibration) == list(CALIBRATION_SIGMAS)
    # B == A, so the floor is 0 and every blurred copy of B is further away, more so the wider the blur
    fds = [fd for fd, _ in rep.calibration.values()]
    assert rep.fd_floor < 1e-6 and 0 < fds[0] < fds[-1]
    assert rep.table().count("\n") == 4 + len(CALIBRATION_SIGMAS) and "Gaussian blur σ 1 px" in rep.table()
    # the widest blur's spreads: the same as scoring that blurred set directly, one column more
    widest = RealReference(clf, x).score(quantize(gaussian_blur(x, max(CALIBRATION_SIGMAS))))
    assert rep.spread_blur == pytest.approx(widest.spread) and set(rep.spread_blur) == set(rep.tv_model)
    header = rep.tv_table().splitlines()[0]
    assert header.endswith("| spread floor, blur σ 1.5 px |") and header.count("|") == 8
    plain = realism_report(G, clf, n=12, real_a=x, real_b=x, progress=False)
    assert (
        plain.calibration == {}
        and plain.spread_blur == {}
        and plain.tv_table().splitlines()[0].count("|") == 7
    )


def test_realism_report_truncation_rows(G, clf):
    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    rep = realism_report(G, clf, n=12, real_a=x, real_b=x, truncation=(1.0, 0.0), progress=False)
    assert list(rep.truncation) == [1.0, 0.0] and "model, truncation ψ 0 |" in rep.table()
    # ψ = 1 is the headline model row again; ψ = 0 makes every sample the average image
    assert rep.truncation[1.0][0] == pytest.approx(rep.fd_model)
    avg = quantize(generate(G, 12, seed=0, trunc_psi=0.0, progress=False))
    assert torch.equal(avg[0], avg[-1])
    fd, tv, *_ = RealReference(clf, x).score(avg)
    assert rep.truncation[0.0] == pytest.approx((fd, float(np.nanmean(list(tv.values())))))
    assert rep.table().count("\n") == 4 + 2
    with pytest.raises(GanlensError, match="truncation psi 3.0 is out of range"):
        realism_report(G, clf, n=12, real_a=x, real_b=x, truncation=(3.0,), progress=False)


def test_realism_report_repeats_score_more_generated_sets(G, clf):
    """repeats=K scores the sets of seeds s..s+K-1; the headline figures stay seed s's set."""
    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    one = realism_report(G, clf, n=12, real_a=x, real_b=x.flip(2), seed=3, progress=False)
    rep = realism_report(G, clf, n=12, real_a=x, real_b=x.flip(2), seed=3, repeats=3, progress=False)
    assert list(rep.repeats) == [3, 4, 5] and list(one.repeats) == [3]
    assert rep.fd_model == pytest.approx(one.fd_model) and rep.ratios[0] == pytest.approx(one.ratio)
    other = realism_report(G, clf, n=12, real_a=x, real_b=x.flip(2), seed=5, progress=False)
    assert rep.repeats[5][0] == pytest.approx(other.fd_model)  # each set is that seed's own set
    assert len(set(rep.ratios)) == 3  # different samples, different distances
    r = np.array(rep.ratios)
    line = rep.repeats_line()
    assert line.startswith("FD ratio over 3 generated set(s), seeds 3–5: mean ") and f"{r.mean():.2f}" in line
    assert f"± {r.std(ddof=1):.2f} (sd)" in line and f"range {r.min():.2f}–{r.max():.2f}" in line
    assert rep.per_set_line() == f"FD ratio per set: seed 3 {r[0]:.2f}, seed 4 {r[1]:.2f}, seed 5 {r[2]:.2f}"
    with pytest.raises(GanlensError, match="repeats 0 must be a whole number >= 1"):
        realism_report(G, clf, n=12, real_a=x, real_b=x, repeats=0, progress=False)


def test_realism_report_scores_each_psi_on_every_repeated_set(G, clf):
    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    rep = realism_report(
        G, clf, n=12, real_a=x, real_b=x.flip(2), seed=3, repeats=3, truncation=(1.0, 0.5), progress=False
    )
    assert list(rep.truncation_fds) == [1.0, 0.5] and list(rep.truncation_fds[0.5]) == [3, 4, 5]
    # ψ = 1 on each set is that set's own model score; ψ 0.5 on seed 3 is the truncation row
    assert rep.truncation_ratios(1.0) == pytest.approx(rep.ratios)
    assert rep.truncation_fds[0.5][3] == pytest.approx(rep.truncation[0.5][0])
    ref = RealReference(clf, x)
    want = ref.fd(quantize(generate(G, 12, seed=5, trunc_psi=0.5, progress=False)))
    assert rep.truncation_fds[0.5][5] == pytest.approx(want)
    lines = rep.truncation_lines()
    r = np.array(rep.truncation_ratios(0.5))
    assert len(lines) == 2 and lines[1].startswith(
        f"FD ratio at ψ 0.5 over 3 generated set(s): mean {r.mean():.2f}"
    )
    assert " / ".join(f"{v:.2f}" for v in r) in lines[1] and f"at ψ 1 {np.mean(rep.ratios):.2f}" in lines[1]
    # one set: no per-set truncation scores
    assert (
        realism_report(G, clf, n=12, real_a=x, real_b=x, truncation=(0.5,), progress=False).truncation_lines()
        == []
    )


def test_realism_report_measures_how_factors_go_together(G, clf):
    """pair_excess: the factor pairs' summed mutual information over real A's; 0 for A itself."""
    from ganlens.classifier import pair_dependence

    x = quantize(torch.rand(12, 3, 16, 16) * 2 - 1)
    rep = realism_report(G, clf, n=12, real_a=x, real_b=x, progress=False)
    assert set(rep.pair_excess) == {"model", "floor", "ceiling"}
    assert rep.pair_excess["floor"] == pytest.approx(0.0, abs=1e-12)  # real B is real A here
    fake = quantize(generate(G, 12, seed=0, progress=False))
    rows = pair_dependence(clf.predict(fake), clf.predict(x), schema=clf.schema)
    assert rep.pair_excess["model"] == pytest.approx(sum(m - r for _, _, m, r in rows))
    line = rep.pairs_line()
    assert line.startswith("factor pairs, summed excess mutual information over real A's (n = 12): model ")
    assert f"floor {0.0:.3f}" in line
    # a set of another size than the reference has no pair figure (the estimate's bias would differ)
    assert np.isnan(RealReference(clf, x).score(x[:6]).pair_excess)


class PixelFeatureClassifier(PixelClassifier):
    """PixelClassifier with features (per-channel means and standard deviations) for ToonFD."""

    def extract_features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


def test_realism_report_tv_n_scores_marginals_on_larger_sets(G):
    """tv_n > n: the Fréchet distances stay on n images, the marginals use tv_n of each set."""
    import io

    from PIL import Image

    from ganlens.analysis import marginals_figure
    from ganlens.classifier import marginal_histograms

    clf = PixelFeatureClassifier()
    x = quantize(torch.rand(30, 3, 16, 16) * 2 - 1)
    a, b = x[:15], x[15:]
    small = realism_report(G, clf, n=6, real_a=a, real_b=b, progress=False)
    rep = realism_report(G, clf, n=6, real_a=a, real_b=b, tv_n=14, progress=False)
    assert (small.n, small.tv_n, rep.n, rep.tv_n) == (6, 6, 6, 14)
    assert (rep.fd_model, rep.fd_floor) == pytest.approx((small.fd_model, small.fd_floor))
    ref = RealReference(clf, a[:14])
    big = ref.score(quantize(generate(G, 14, seed=0, progress=False)))
    assert rep.tv_model == pytest.approx(big.tv, nan_ok=True)
    assert rep.spread_model == pytest.approx(big.spread, nan_ok=True)
    assert rep.tv_floor == pytest.approx(ref.score(b[:14]).tv, nan_ok=True)
    assert rep.tv_model["red_tl"] != pytest.approx(small.tv_model["red_tl"])  # other images, other marginals
    hist = marginal_histograms(clf.predict(a[:14]), schema=clf.schema)
    assert set(rep.hist_real) == set(clf.schema.names)
    assert all(np.array_equal(rep.hist_real[k], hist[k]) for k in hist)
    assert all(np.array_equal(rep.hist_model[k], big.hist[k]) for k in hist)
    # given real sets cap tv_n at their size
    assert realism_report(G, clf, n=6, real_a=a, real_b=b, tv_n=100, progress=False).tv_n == 15
    with pytest.raises(GanlensError, match="tv_n 1 must be a whole number >= 2"):
        realism_report(G, clf, n=6, real_a=a, real_b=b, tv_n=1, progress=False)
    png = marginals_figure(rep, clf.schema)
    img = Image.open(io.BytesIO(png))
    assert png[:4] == b"\x89PNG" and img.width > img.height > 100  # a row of one panel per factor


def test_realism_cli(G, clf, tmp_path, capsys):
    import json

    from ganlens.classifier import save_classifier
    from ganlens.cli.main import main

    G.save_pretrained(str(tmp_path / "G"))
    save_classifier(clf, tmp_path / "C")
    common = ["realism", str(tmp_path / "G"), "--classifier", str(tmp_path / "C"), "--no-progress"]
    real = (torch.rand(20, 16, 16, 3) * 255).to(torch.uint8).numpy()
    np.save(tmp_path / "real.npy", real)
    args = [
        *common,
        "--n",
        "8",
        "--real",
        str(tmp_path / "real.npy"),
        "--calibrate",
        "--trunc",
        "0.7",
        "--out",
        str(tmp_path / "o"),
        "--repeats",
        "2",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "FD ratio: " in printed and "real set B (floor)" in printed and "blur σ 1.5 px" in printed
    assert "FD ratio over 2 generated set(s), seeds 0–1: mean " in printed
    assert "FD ratio per set: seed 0 " in printed and ", seed 1 " in printed
    got = json.loads((tmp_path / "o" / "realism.json").read_text())
    assert list(got["fd_ratio_by_seed"]) == ["0", "1"]
    assert got["fd_ratio_by_seed"]["0"] == pytest.approx(got["fd_ratio"])
    assert got["n"] == 8 and got["fd_ratio"] == pytest.approx(got["fd_model"] / got["fd_floor"])
    assert set(got["calibration"]) == {"0.5", "1", "1.5"} and set(got["truncation"]) == {"0.7"}
    assert set(got["spread_blur"]) == set(got["spread_model"])
    assert "| model, truncation ψ 0.7 |" in printed
    assert (tmp_path / "o" / "realism.md").read_text().startswith("| images |")
    assert (tmp_path / "o" / "samples.png").is_file() and (tmp_path / "o" / "marginals.png").is_file()
    assert got["tv_n"] == 8 and "Attribute marginals" not in printed  # --tv-n defaults to --n
    from PIL import Image

    assert Image.open(tmp_path / "o" / "calibration.png").height == 2 + 5 * (16 + 2)  # real, 3 blurs, model
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*common, "--n", "1"]) == 2 and "--n 1 must be at least 2" in capsys.readouterr().err
    assert main([*common, "--tv-n", "0"]) == 2 and "--tv-n 0 must be at least 2" in capsys.readouterr().err
    more = [
        *common,
        "--n",
        "4",
        "--tv-n",
        "10",
        "--real",
        str(tmp_path / "real.npy"),
        "--out",
        str(tmp_path / "t"),
    ]
    assert main(more) == 0
    assert "Attribute marginals, n = 10 per set:" in capsys.readouterr().out
    assert json.loads((tmp_path / "t" / "realism.json").read_text())["tv_n"] == 10
    assert main([*common, "--real", str(tmp_path / "nope.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
    np.save(tmp_path / "big.npy", np.zeros((8, 32, 32, 3), np.uint8))
    assert main([*common, "--real", str(tmp_path / "big.npy")]) == 2
    assert "are 32 px; the model makes 16 px" in capsys.readouterr().err


def test_render_real_records_are_the_records_each_render_was_drawn_from():
    from ganlens.analysis import render_real, render_real_records
    from ganlens.data.toonfaces import render_toonface

    images, records = render_real_records(3, size=32, base_seed=77, progress=False)
    assert torch.equal(images, render_real(3, size=32, base_seed=77, progress=False))
    assert len(records) == 3 and records[0] != records[1]
    again = render_toonface(records[2], size=32, seed=79).image  # uint8 (32, 32, 3)
    assert torch.equal(images[2], torch.tensor(again).permute(2, 0, 1).float() / 127.5 - 1.0)
    with pytest.raises(GanlensError, match="number of real images 1 must be an integer >= 2"):
        render_real_records(1, progress=False)
