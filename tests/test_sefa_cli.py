"""``ganlens sefa`` / ``sefa-name`` / ``edit`` and the report files (tiny models, CPU, seconds)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.cli.main import main
from ganlens.codes import CodesFile
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.sefa import Directions, report_prefix


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    a = DCGANGenerator(DCGANConfig(resolution=16, z_dim=16, ngf=8)).eval()
    a.save_pretrained(str(root / "tiny-a"))
    b = DCGANGenerator(DCGANConfig(resolution=16, z_dim=12, ngf=8)).eval()
    b.save_pretrained(str(root / "tiny-b"))
    return root / "tiny-a", root / "tiny-b"


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def report(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "sefa"
    args = [
        "sefa",
        str(models[0]),
        "-L",
        "all",
        "-K",
        "3",
        "-N",
        "2",
        "--steps",
        "5",
        "--seed",
        "0",
        "--out",
        str(out),
        "--quiet",
        "--viz-size",
        "32",
    ]
    assert main(args) == 0
    return out


def test_sefa_cli_writes_full_report(report, capsys):
    prefix = report_prefix("tiny-a", 2, 3, "all", 0)
    assert prefix == "tiny-a_N2_K3_Lall_seed0"
    for name in [
        "index.html",
        f"{prefix}_sample_first.html",
        f"{prefix}_semantic_first.html",
        "eigenvalues.png",
        "directions.npz",
        "directions.json",
        "codes.npz",
        "metrics.json",
    ]:
        assert (report / name).is_file(), name
    for k in range(3):
        for sub, ext in (("grids", "png"), ("gifs", "gif"), ("heatmaps", "png")):
            assert (report / sub / f"direction_{k:02d}.{ext}").is_file()
    # grid: 2 rows (samples) x 5 columns (distances) of 16 px images, 2 px padding
    assert Image.open(report / "grids" / "direction_00.png").size == (5 * 18 + 2, 2 * 18 + 2)
    gif = Image.open(report / "gifs" / "direction_00.gif")
    assert gif.n_frames == 8  # 5 distances there and 3 back
    page = (report / f"{prefix}_sample_first.html").read_text()
    assert page.count("data:image/jpeg;base64") == 3 * 2 * 5
    assert "Distance -3.00" in page and "Distance 3.00" in page and "Distance 0.00" in page
    assert page.count('bgcolor="#FF8888"') == 3 and "Semantic 000<br>(" in page
    page2 = (report / f"{prefix}_semantic_first.html").read_text()
    assert page2.count('bgcolor="#FF8888"') == 2 and page2.count("data:image/jpeg;base64") == 30
    index = (report / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="([^"]+)"', index):
        assert (report / ref).is_file(), ref  # every link resolves
    m = json.loads((report / "metrics.json").read_text())
    assert [d["index"] for d in m["directions"]] == [0, 1, 2] and all(
        d["change_per_unit"] > 0 for d in m["directions"]
    )
    d = Directions.load(report / "directions.npz")
    assert d.model_id == "tiny-a" and len(d) == 16 and len(d.metrics["change_per_unit"]) == 3


def test_sefa_cli_refuses_nonempty_out_and_bad_input(models, report, tmp_path, capsys):
    base = ["sefa", str(models[0]), "--quiet", "--steps", "3", "-N", "1", "-K", "1"]
    assert main(base + ["--out", str(report)]) == 2
    assert "not empty; pass --overwrite" in _err(capsys)
    cases = [
        (["-L", "1"], "layer 1 is out of range; this dcgan has editable layers 0 to 0"),
        (["-L", "0-x"], "cannot be parsed"),
        (["-K", "17"], "-K 17 is not allowed; this model's latent size allows 1 to 16"),
        (["--start", "2", "--end", "-2"], "start must be smaller than end"),
        (["--steps", "1"], "steps 1 must be an integer >= 2"),
        (["--batch-size", "0"], "batch size 0 must be a positive integer"),
        (["-N", "0"], "-N 0 is not allowed"),
        (["--viz-size", "4"], "viz size 4 is not allowed"),
        (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
    ]
    for extra, msg in cases:
        out = tmp_path / f"o{len(extra)}{abs(hash(msg))}"
        assert main([*base, *extra, "--out", str(out)]) == 2, extra
        assert msg in _err(capsys)
        assert not out.exists() or not any(out.iterdir())  # nothing written on a user error


def test_sefa_name_renames_and_lists(report, tmp_path, capsys):
    import shutil

    work = tmp_path / "d"
    work.mkdir()
    for ext in ("npz", "json"):
        shutil.copy(report / f"directions.{ext}", work / f"directions.{ext}")
    assert main(["sefa-name", str(work / "directions.npz"), "--index", "1", "--name", "head pose"]) == 0
    assert Directions.load(work / "directions.npz").names[:3] == ["direction 0", "head pose", "direction 2"]
    capsys.readouterr()
    assert main(["sefa-name", str(work / "directions.json"), "--list"]) == 0
    assert "head pose" in capsys.readouterr().out
    assert main(["sefa-name", str(work / "directions.npz"), "--index", "99", "--name", "x"]) == 2
    assert "index 99 is out of range; allowed 0 to 15" in _err(capsys)


def test_edit_cli_roundtrip(models, report, tmp_path, capsys):
    args = [
        "edit",
        str(models[0]),
        "--codes",
        str(report / "codes.npz"),
        "--directions",
        str(report / "directions.npz"),
    ]
    out0 = tmp_path / "e0"
    assert main([*args, "--index", "0", "--distance", "0", "--out", str(out0)]) == 0
    assert capsys.readouterr().out.strip().endswith("before_after.png")
    before = np.asarray(Image.open(out0 / "images" / "sample_000_before.png"))
    after = np.asarray(Image.open(out0 / "images" / "sample_000_after.png"))
    assert np.array_equal(before, after)  # distance 0 is the identity
    out1 = tmp_path / "e1"
    assert main([*args, "--index", "0,1", "--distance", "2,-1", "--out", str(out1)]) == 0
    after1 = np.asarray(Image.open(out1 / "images" / "sample_000_after.png"))
    assert not np.array_equal(before, after1)
    ed = CodesFile.load(out1 / "edited_codes.npz")
    orig = CodesFile.load(report / "codes.npz")
    d = Directions.load(report / "directions.npz")
    assert np.allclose(ed.codes - orig.codes, 2 * d.vectors[0] - d.vectors[1], atol=1e-5)
    # a name works as an index
    assert main(["sefa-name", str(report / "directions.npz"), "--index", "0", "--name", "pose"]) == 0
    out2 = tmp_path / "e2"
    assert main([*args, "--index", "pose", "--distance", "2", "--out", str(out2)]) == 0
    assert np.allclose(
        CodesFile.load(out2 / "edited_codes.npz").codes, orig.codes + 2 * d.vectors[0], atol=1e-5
    )
    assert Image.open(out1 / "before_after.png").size[0] > 2 * 16


def test_edit_cli_errors(models, report, tmp_path, capsys):
    codes, dirs = str(report / "codes.npz"), str(report / "directions.npz")
    other = tmp_path / "other.npz"
    CodesFile(codes=np.zeros((2, 12), np.float32), model="tiny-b").save(other)
    renamed = tmp_path / "renamed.npz"
    CodesFile(codes=np.zeros((2, 16), np.float32), model="elsewhere").save(renamed)
    cases = [
        (
            [str(models[1]), "--codes", str(other), "--directions", dirs, "--index", "0", "--distance", "1"],
            "directions have latent size 16 (model tiny-a) but tiny-b has latent size 12",
        ),
        (
            [str(models[0]), "--codes", str(other), "--directions", dirs, "--index", "0", "--distance", "1"],
            "codes have shape (12,) per item (model tiny-b) but tiny-a expects (16,)",
        ),
        (
            [
                str(models[0]),
                "--codes",
                str(renamed),
                "--directions",
                dirs,
                "--index",
                "0",
                "--distance",
                "1",
            ],
            "belong to model 'elsewhere', not 'tiny-a'",
        ),
        (
            [str(models[0]), "--codes", codes, "--directions", dirs, "--index", "16", "--distance", "1"],
            "direction index 16 is out of range; allowed 0 to 15",
        ),
        (
            [str(models[0]), "--codes", codes, "--directions", dirs, "--index", "0", "--distance", "x"],
            "--distance 'x' is not a number",
        ),
        (
            [str(models[0]), "--codes", codes, "--directions", dirs, "--index", "0,1", "--distance", "1,2,3"],
            "2 direction indices but 3 distances",
        ),
        (
            [
                str(models[0]),
                "--codes",
                codes,
                "--directions",
                dirs,
                "--index",
                "0",
                "--distance",
                "1",
                "--layers",
                "2",
            ],
            "layer 2 is out of range",
        ),
        (
            [
                str(models[0]),
                "--codes",
                str(tmp_path / "missing.npz"),
                "--directions",
                dirs,
                "--index",
                "0",
                "--distance",
                "1",
            ],
            "does not exist",
        ),
    ]
    for i, (extra, msg) in enumerate(cases):
        out = tmp_path / f"err{i}"
        assert main(["edit", *extra, "--out", str(out)]) == 2, msg
        assert msg in _err(capsys)
        assert not out.exists()
    ok = tmp_path / "ok"
    assert (
        main(
            [
                "edit",
                str(models[0]),
                "--codes",
                str(renamed),
                "--directions",
                dirs,
                "--index",
                "0",
                "--distance",
                "1",
                "--ignore-model-id",
                "--out",
                str(ok),
            ]
        )
        == 0
    )


def test_help_has_examples(capsys):
    for cmd in ("sefa", "sefa-name", "sefa-boundary", "edit"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["ganspace", "random", "rosinality"])
def test_report_other_methods_and_style_model(method, tmp_path):
    from fixtures.sefa.toys import ToyStyleConfig, ToyStyleGenerator
    from ganlens.sefa import sefa_report

    G = ToyStyleGenerator(ToyStyleConfig(num_ws=6, channels=(4,) * 6)).eval()
    r = sefa_report(
        G, tmp_path / method, model_id="toy", layers="0-1,4", num_directions=2, num_samples=2, steps=3,
        method=method, progress=False, viz_size=16,
    )  # fmt: skip
    assert r.directions.method == method and r.files.index.is_file()
    assert r.directions.layers == (0, 1, 4)  # every method applies its directions to the chosen rows
    assert r.files.sample_first.name == "toy_N2_K2_L0-1,4_seed0_sample_first.html"
    codes = CodesFile.load(r.codes_path)
    assert codes.codes.shape == (2, 6, 8) and codes.z.shape == (2, 8)
    # the codes file holds truncated w+ (psi 0.7 on all rows of this 6-row model)
    w = G.mapping(torch.from_numpy(codes.z))
    assert np.allclose(codes.codes, G.w_avg.lerp(w, 0.7).detach().numpy(), atol=1e-6)
    from ganlens.errors import GanlensError

    with pytest.raises(GanlensError, match="truncation psi 3.0 is not allowed; use -1 to 2"):
        sefa_report(G, tmp_path / "bad", model_id="toy", trunc_psi=3.0, method=method)
    assert not (tmp_path / "bad").exists()


def test_stylegan2_generate_sefa_edit_end_to_end(tmp_path, capsys):
    """Real StyleGAN2 (tiny): ``generate --ws-out`` codes edited with directions from ``ganlens sefa``."""
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
    )
    G = sg2.StyleGAN2Generator(cfg).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    model = tmp_path / "sg2tiny"
    G.save_pretrained(str(model))
    rep = tmp_path / "rep"
    assert main(["sefa", str(model), "-L", "coarse", "-K", "2", "-N", "2", "--steps", "3", "--quiet",
                 "--viz-size", "16", "--out", str(rep)]) == 0  # fmt: skip
    assert (rep / "sg2tiny_N2_K2_Lcoarse_seed0_sample_first.html").is_file()
    ws = tmp_path / "ws.npz"
    gen = ["generate", "--model", str(model), "--seeds", "0-1", "--trunc", "0.7", "--no-progress"]
    if main([*gen, "--out", str(tmp_path / "gen"), "--ws-out", str(ws)]) != 0:
        pytest.skip("ganlens generate is not available")
    out = tmp_path / "edit"
    dirs = str(rep / "directions.npz")
    edit = ["edit", str(model), "--codes", str(ws), "--directions", dirs]
    assert main([*edit, "--index", "0", "--distance", "3", "--out", str(out)]) == 0
    before, after = CodesFile.load(ws).codes, CodesFile.load(out / "edited_codes.npz").codes
    moved = np.abs(after - before).max(axis=(0, 2)) > 0
    assert moved.tolist() == [i < 4 for i in range(G.num_ws)]  # coarse rows only
    capsys.readouterr()


def test_sefa_boundary_cli(models, tmp_path, capsys):
    """A planted linear attribute in z is recovered by ``ganlens sefa-boundary`` and usable by ``edit``."""
    rng = np.random.RandomState(0)
    z = rng.randn(300, 16).astype(np.float32)
    n_true = rng.randn(16)
    n_true /= np.linalg.norm(n_true)
    CodesFile(codes=z, model="tiny-a").save(tmp_path / "codes.npz")
    np.savetxt(tmp_path / "labels.txt", (z @ n_true > 0).astype(int), fmt="%d")
    np.save(tmp_path / "scores.npy", z @ n_true)
    base = ["sefa-boundary", str(models[0]), "--codes", str(tmp_path / "codes.npz")]
    labels, scores = ["--labels", str(tmp_path / "labels.txt")], ["--labels", str(tmp_path / "scores.npy")]
    assert main([*base, *labels, "--name", "planted", "--out", str(tmp_path / "b")]) == 0
    d = Directions.load(tmp_path / "b.npz")
    assert d.names == ["planted"] and d.method == "interfacegan" and float(d.vectors[0] @ n_true) > 0.9
    assert main([*base, *scores, "--ratio", "0.2", "--out", str(tmp_path / "s")]) == 0
    assert float(Directions.load(tmp_path / "s.npz").vectors[0] @ n_true) > 0.9
    assert main([*base, *labels, "--out", str(tmp_path / "b")]) == 2
    assert "exists; pass --overwrite" in _err(capsys)
    np.savetxt(tmp_path / "short.txt", np.ones(5))
    assert main([*base, "--labels", str(tmp_path / "short.txt"), "--out", str(tmp_path / "x")]) == 2
    assert "has 5 labels but" in _err(capsys)
    assert main([*base, *scores, "--ratio", "0.9", "--out", str(tmp_path / "x")]) == 2
    assert "ratio 0.9 is not allowed" in _err(capsys)
    out = tmp_path / "edit"
    edit = ["edit", str(models[0]), "--codes", str(tmp_path / "codes.npz")]
    edit += ["--directions", str(tmp_path / "b.npz")]
    assert main([*edit, "--index", "planted", "--distance", "2", "--out", str(out)]) == 0


def test_report_resumes_after_interruption(tmp_path):
    from ganlens.errors import GanlensError
    from ganlens.sefa import sefa_report

    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=16, ngf=8)).eval()
    kw = dict(model_id="t", num_directions=3, num_samples=2, steps=3, batch_size=6, progress=False)
    kw["viz_size"] = 16
    full = sefa_report(G, tmp_path / "full", **kw)
    assert not (tmp_path / "full" / ".render-cache").exists()  # removed once the report is complete

    calls = {"n": 0}
    real = G.synthesis

    def flaky(codes, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # base images, direction 0, then stop inside direction 1
            raise KeyboardInterrupt
        return real(codes, **k)

    G.synthesis = flaky
    with pytest.raises(KeyboardInterrupt):
        sefa_report(G, tmp_path / "r", **kw)
    assert len(list((tmp_path / "r" / ".render-cache").glob("direction_*.npz"))) == 1
    with pytest.raises(GanlensError, match="not empty"):
        sefa_report(G, tmp_path / "r", **kw)
    calls["n"] = -100  # no more failures
    res = sefa_report(G, tmp_path / "r", resume=True, **kw)
    assert calls["n"] == -100 + 1 + 2  # base + directions 1 and 2 only: direction 0 came from the cache
    assert np.array_equal(res.sweep.images, full.sweep.images)
    assert np.allclose(res.sweep.change, full.sweep.change)
    assert np.allclose(res.sweep.heatmaps, full.sweep.heatmaps)


def test_sefa_cli_renders_saved_directions(models, report, tmp_path, capsys):
    import shutil

    work = tmp_path / "d"
    work.mkdir()
    for ext in ("npz", "json"):
        shutil.copy(report / f"directions.{ext}", work / f"directions.{ext}")
    assert main(["sefa-name", str(work / "directions.npz"), "--index", "1", "--name", "turn <b>"]) == 0
    out = tmp_path / "named"
    args = ["sefa", str(models[0]), "--directions", str(work / "directions.npz"), "-K", "2", "-N", "2"]
    args += ["--steps", "3", "--quiet", "--viz-size", "16"]
    assert main([*args, "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert "turn &lt;b&gt;" in index  # the name is shown (and escaped)
    fresh = Directions.load(report / "directions.npz")
    again = Directions.load(out / "directions.npz")
    assert np.array_equal(again.vectors, fresh.vectors) and again.names[1] == "turn <b>"
    capsys.readouterr()
    assert main([*args, "--mode", "random", "--out", str(tmp_path / "x")]) == 2
    assert "exclude each other" in _err(capsys)
    assert main([*args, "-K", "17", "--out", str(tmp_path / "x")]) == 2
    assert "the directions file has 16 directions" in _err(capsys)
    # a file saved under another model id is refused unless asked
    other = Directions.load(work / "directions.npz")
    other.model_id = "someone-else"
    other.save(work / "other")
    bad = ["sefa", str(models[0]), "--directions", str(work / "other.npz")]
    bad += ["-K", "1", "-N", "1", "--steps", "2"]
    assert main([*bad, "--quiet", "--out", str(tmp_path / "y")]) == 2
    assert "computed for model 'someone-else', not 'tiny-a'" in _err(capsys)
    assert main([*bad, "--quiet", "--ignore-model-id", "--out", str(tmp_path / "y")]) == 0
