"""``ganlens generate``: files, codes file, resume/overwrite, argument errors, library function."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.cli.generate import generate_batches
from ganlens.cli.main import main
from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.generators.native import load_generator
from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator
from ganlens.utils.io import to_uint8


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    G = StyleGANGenerator(
        StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16)
    )
    with torch.no_grad():
        G.mapping_net.w_avg.normal_()
        for layer in G.layers:
            layer.noise_strength.fill_(0.3)
    G.save_pretrained(str(tmp_path / "sg"))
    return tmp_path / "sg"


def gen(*args: str) -> int:
    return main(["generate", "--no-progress", *args])


def test_generate_writes_images_grid_and_codes(model_dir, tmp_path, capsys):
    out, ws = tmp_path / "out", tmp_path / "ws.npz"
    rc = gen("--model", str(model_dir), "--seeds", "0-3,10", "--trunc", "0.7", "--trunc-cutoff", "2",
             "--batch-size", "2", "--out", str(out), "--ws-out", str(ws))  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "grid.png",
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
        "seed0003.png",
        "seed0010.png",
    ]
    grid = Image.open(out / "grid.png")
    assert grid.size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)  # 5 images → 3 columns, 2 rows, padding 2

    codes = CodesFile.load(ws)
    G = load_generator(model_dir)
    assert codes.names == ["0", "1", "2", "3", "10"]
    assert codes.codes.shape == (5, G.num_ws, G.w_dim) and codes.model == "sg"
    np.testing.assert_array_equal(codes.z, G.z_from_seeds([0, 1, 2, 3, 10]).numpy())
    codes.check_model(G)
    # the saved codes reproduce the saved images (what `ganlens edit` relies on)
    with torch.no_grad():
        want = G.mapping(torch.from_numpy(codes.z), trunc_psi=0.7, trunc_cutoff=2)
        np.testing.assert_allclose(codes.codes, want.numpy(), atol=1e-6)
        img = to_uint8(G.synthesis(codes.tensor()))
    png = np.asarray(Image.open(out / "seed0010.png"))
    assert np.abs(png.astype(int) - img[4].astype(int)).max() <= 1


def test_refuses_overwrite_then_overwrites_and_resumes(model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert gen("--model", str(model_dir), "--seeds", "0-2", "--out", str(out)) == 0
    capsys.readouterr()
    assert gen("--model", str(model_dir), "--seeds", "0-2", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "is not empty; pass --overwrite" in err and "Traceback" not in err
    keep = out / "seed0001.png"
    keep.write_bytes(b"sentinel")  # --resume must not touch finished files
    (out / "seed0002.png").unlink()
    assert (
        gen("--model", str(model_dir), "--seeds", "0-2", "--out", str(out), "--resume") == 2
    )  # grid reads it back
    err = capsys.readouterr().err
    assert "seed0001.png" in err and "cannot be read" in err and "Traceback" not in err
    keep.unlink()
    Image.new("RGB", (8, 8)).save(keep)  # an image from another model
    assert gen("--model", str(model_dir), "--seeds", "0-2", "--out", str(out), "--resume") == 2
    assert "is 8×8 but this model makes 16×16" in capsys.readouterr().err
    keep.unlink()
    assert gen("--model", str(model_dir), "--seeds", "0-3", "--out", str(out), "--resume") == 0
    assert "kept 2 existing" in capsys.readouterr().out
    assert (out / "seed0003.png").is_file() and (out / "seed0001.png").is_file()
    assert gen("--model", str(model_dir), "--seeds", "0", "--out", str(out), "--overwrite") == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "a-b"], "seeds 'a-b' is not a list"),
        (["--seeds", "-3"], "seeds"),
        (["--trunc", "5"], "--trunc 5.0 is out of range; allowed -1.0 to 2.0"),
        (["--trunc", "nan"], "--trunc nan is out of range"),
        (["--trunc-cutoff", "99"], "truncation cutoff 99 is out of range; allowed 0 to 6"),
        (["--batch-size", "0"], "--batch-size 0 is out of range; allowed 1 to 1024"),
        (["--ws-out", "codes.txt"], "must end in .npz"),
        (["--device", "tpu:9"], "device 'tpu:9'"),
    ],
)
def test_argument_errors_are_one_line(model_dir, tmp_path, capsys, args, message):
    rc = gen("--model", str(model_dir), "--out", str(tmp_path / "o"), *args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_unknown_model(tmp_path, capsys):
    assert gen("--model", "no-such-model", "--out", str(tmp_path / "o")) == 2
    assert "model 'no-such-model' is neither a zoo name" in capsys.readouterr().err


def test_bf16_runs_and_stays_close(model_dir, tmp_path):
    G = load_generator(model_dir)
    (a,) = generate_batches(G, [5], trunc_psi=0.7, progress=False)
    (b,) = generate_batches(G, [5], trunc_psi=0.7, bf16=True, progress=False)
    assert b.images.dtype == torch.float32 and b.images.shape == a.images.shape
    assert (a.images - b.images).abs().mean() < 0.1
    assert gen("--model", str(model_dir), "--seeds", "0-1", "--bf16", "--out", str(tmp_path / "o")) == 0


def test_library_batches_and_noise(model_dir):
    G = load_generator(model_dir)
    full = torch.cat([b.images for b in generate_batches(G, [1, 2, 3], batch_size=3, progress=False)])
    split = torch.cat([b.images for b in generate_batches(G, [1, 2, 3], batch_size=2, progress=False)])
    torch.testing.assert_close(full, split, atol=1e-5, rtol=1e-5)  # const noise: batching does not matter
    r1 = next(generate_batches(G, [1], noise_mode="random", progress=False)).images
    r2 = next(generate_batches(G, [1], noise_mode="random", progress=False)).images
    assert torch.equal(r1, r2)  # random noise is seeded from the seed
    with pytest.raises(GanlensError, match="noise mode 'x'"):
        next(generate_batches(G, [1], noise_mode="x"))
    with pytest.raises(GanlensError, match="truncation psi 3"):
        next(generate_batches(G, [1], trunc_psi=3))


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "examples:\n  ganlens generate" in capsys.readouterr().out


def test_style_mix_grid_and_cells(model_dir, tmp_path, capsys):
    from ganlens.cli.generate import style_mix

    out = tmp_path / "mix"
    assert main(["style-mix", "--model", str(model_dir), "--row-seeds", "1,2", "--col-seeds", "3-5",
                 "--styles", "coarse", "--out", str(out)]) == 0  # fmt: skip
    assert "w+ rows [0, 1, 2, 3]" in capsys.readouterr().out
    assert Image.open(out / "grid.png").size == (4 * 16, 3 * 16)  # blank corner + 3 columns, 1 + 2 rows
    assert len(list(out.glob("*-*.png"))) == 6
    G = load_generator(model_dir)
    res = style_mix(G, [1, 2], [3, 4, 5], styles=[0, 1])
    with torch.no_grad():
        ws1, ws4 = G.mapping(G.z_from_seeds([1])), G.mapping(G.z_from_seeds([4]))
        ws1[:, :2] = ws4[:, :2]
        torch.testing.assert_close(res.mixed[0, 1], G.synthesis(ws1)[0])
        torch.testing.assert_close(res.row_images[1], G.synthesis(G.mapping(G.z_from_seeds([2])))[0])
    png = np.asarray(Image.open(out / "2-5.png"))
    assert png.shape == (16, 16, 3)


def test_style_mix_errors(model_dir, tmp_path, capsys):
    args = ["style-mix", "--model", str(model_dir), "--row-seeds", "1", "--col-seeds", "2", "--out"]
    assert main([*args, str(tmp_path / "a"), "--styles", "0-9"]) == 2
    assert "styles 6 is out of range; allowed 0 to 5" in capsys.readouterr().err
    assert main(["style-mix", "--model", "digiface-dcgan64", "--row-seeds", "1", "--col-seeds", "2",
                 "--out", str(tmp_path / "b")]) == 2  # fmt: skip
    assert "needs a style-based model" in capsys.readouterr().err
