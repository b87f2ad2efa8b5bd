"""``ganlens convert``: round trips through every format, overwrite protection, unsupported pairs."""

from __future__ import annotations

import pytest
import torch

from ganlens import zoo
from ganlens.cli import convert
from ganlens.cli.main import main
from ganlens.errors import GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.generators.pggan import PGGANConfig, PGGANGenerator
from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

TOL = 1e-4


def _scramble(G, seed: int = 0):
    """Give every float tensor (w_avg, noise strengths, biases…) non-default values so that a
    conversion that drops or mis-maps any of them changes the images."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in G.state_dict().values():  # persistent tensors only (not the fixed FIR filters)
            if t.is_floating_point():
                t.add_(0.2 * torch.randn(t.shape, generator=gen))
    return G.eval()


@pytest.fixture
def sg2(tmp_path):
    G = _scramble(
        StyleGAN2Generator(
            StyleGAN2Config(
                resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
            )
        )
    )
    G.save_pretrained(str(tmp_path / "src"))
    return G, tmp_path / "src"


def _images(G, seeds=(0, 1, 2)):
    with torch.no_grad():
        z = G.z_from_seeds(list(seeds))
        psi = 0.7 if G.style_based else 1.0
        return G.synthesis(G.mapping(z, trunc_psi=psi), noise_mode="const")


@pytest.mark.parametrize(
    "target,name",
    [
        ("ganlens", "out"),
        ("nvidia", "g.pkl"),
        ("nvidia-tf", "g.pkl"),
        ("rosinality", "g.pt"),
        ("genforce", "g.pth"),
    ],
)
def test_stylegan2_round_trip_every_format(sg2, tmp_path, capsys, target, name):
    G, src = sg2
    out = tmp_path / target / name
    assert main(["convert", str(src), "--to", target, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verified" in printed and "max |Δ|" in printed
    H = zoo.load_model(out)
    assert H.config == G.config
    assert (_images(H) - _images(G)).abs().max() <= TOL
    # and back to a ganlens folder from the official file
    back = tmp_path / target / "back"
    assert main(["convert", str(out), "--to", "ganlens", "--out", str(back)]) == 0
    assert (_images(zoo.load_model(back)) - _images(G)).abs().max() <= TOL


def test_library_result_and_chain(sg2, tmp_path):
    """ganlens → rosinality → genforce → nvidia → ganlens keeps the images."""
    G, _ = sg2
    r = convert.convert_generator(G, "rosinality", tmp_path / "a.pt")
    assert r.max_abs_diff <= TOL and r.size_bytes > 0 and r.path.is_file()
    H = zoo.load_model(tmp_path / "a.pt")
    H = zoo.load_model(convert.convert_generator(H, "genforce", tmp_path / "b.pth").path)
    H = zoo.load_model(convert.convert_generator(H, "nvidia", tmp_path / "c.pkl").path)
    H = zoo.load_model(convert.convert_generator(H, "ganlens", tmp_path / "d").path)
    assert (_images(H) - _images(G)).abs().max() <= TOL


@pytest.mark.parametrize(
    "G",
    [
        StyleGANGenerator(
            StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16)
        ),
        PGGANGenerator(PGGANConfig(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)),
    ],
    ids=["stylegan", "pggan"],
)
def test_legacy_archs_to_genforce(tmp_path, G):
    G = _scramble(G)
    res = convert.convert_generator(G, "genforce", tmp_path / "g.pth")
    H = zoo.load_model(res.path)
    assert H.arch == G.arch and H.config == G.config
    assert (_images(H) - _images(G)).abs().max() <= TOL


def test_refuses_to_overwrite(sg2, tmp_path, capsys):
    _, src = sg2
    out = tmp_path / "g.pt"
    out.write_bytes(b"precious")
    assert main(["convert", str(src), "--to", "rosinality", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    assert main(["convert", str(src), "--to", "ganlens", "--out", str(folder)]) == 2
    assert not (folder / "model.safetensors").exists()
    # with --overwrite both work; other files in the folder survive
    assert main(["convert", str(src), "--to", "rosinality", "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"precious"
    assert main(["convert", str(src), "--to", "ganlens", "--out", str(folder), "--overwrite"]) == 0
    assert (folder / "model.safetensors").is_file() and (folder / "keep.txt").read_text() == "x"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".convert")]  # temp folders cleaned


def test_unsupported_target_for_arch(tmp_path, capsys):
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=4))
    G.save_pretrained(str(tmp_path / "dc"))
    for target, name in [("genforce", "x.pth"), ("nvidia", "x.pkl"), ("rosinality", "x.pt")]:
        assert main(["convert", str(tmp_path / "dc"), "--to", target, "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert (
            f"dcgan model cannot be written in the {target} format" in err
            and "formats for dcgan: ganlens" in err
        )
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / name).exists()
    G1 = StyleGANGenerator(
        StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16)
    )
    with pytest.raises(GanlensError, match="formats for stylegan: ganlens, genforce"):
        convert.convert_generator(G1, "rosinality", tmp_path / "y.pt")


def test_bad_arguments(sg2, tmp_path, capsys):
    _, src = sg2
    assert main(["convert", str(src), "--to", "onnx", "--out", str(tmp_path / "x")]) == 2
    assert "allowed: ganlens, nvidia" in capsys.readouterr().err
    assert main(["convert", str(src), "--to", "rosinality", "--out", str(tmp_path / "x.pth")]) == 2
    assert "must end in .pt" in capsys.readouterr().err
    assert main(["convert", str(src), "--to", "ganlens", "--out", str(tmp_path / "model.pt")]) == 2
    assert "the ganlens format is a folder" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing"), "--to", "ganlens", "--out", str(tmp_path / "o")]) == 2
    assert "neither a zoo name" in capsys.readouterr().err


def test_failed_verification_writes_nothing(sg2, tmp_path, monkeypatch):
    """A writer that corrupts one tensor must be caught by the reload check, leaving no file."""
    G, _ = sg2
    from ganlens.loaders import export

    real = export.to_rosinality_state

    def broken(G):
        state = real(G)
        state["convs.0.conv.modulation.bias"] = (
            state["convs.0.conv.modulation.bias"] + 1.0
        )  # the classic +1 bug
        return state

    monkeypatch.setattr(export, "to_rosinality_state", broken)
    with pytest.raises(GanlensError, match="does not reproduce the model"):
        convert.convert_generator(G, "rosinality", tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".convert")]


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "stylegan2" in out
