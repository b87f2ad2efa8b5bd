"""The generator interface itself: validation, seeds, codes files, zoo and CLI basics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlens.cli.main import main
from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.generators import build_generator, get_architecture
from ganlens.generators.base import layer_groups_for, z_from_seeds
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator


def test_config_validation_names_value():
    with pytest.raises(GanlensError, match="resolution 48"):
        DCGANConfig(resolution=48)
    with pytest.raises(GanlensError, match="first_layer 'conv'"):
        DCGANConfig(first_layer="conv")
    with pytest.raises(GanlensError, match="unknown architecture 'biggan'"):
        get_architecture("biggan")
    with pytest.raises(GanlensError, match="unknown config fields"):
        build_generator({"arch": "dcgan", "resolution": 16, "bogus": 1})


def test_seeds_match_nvidia_convention():
    z = z_from_seeds([0, 7], 512)
    ref = np.random.RandomState(7).randn(512)
    assert z.shape == (2, 512)
    np.testing.assert_allclose(z[1].numpy(), ref.astype(np.float32))
    assert not torch.equal(z[0], z[1])


def test_layer_groups_by_resolution():
    g = layer_groups_for(18)
    assert g == {"coarse": (0, 1, 2, 3), "middle": (4, 5, 6, 7), "fine": tuple(range(8, 18))}
    assert layer_groups_for(10)["fine"] == (8, 9)


def test_check_codes_and_split_errors():
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=4)).eval()
    with pytest.raises(GanlensError, match=r"codes have shape \(2, 9\)"):
        G.synthesis(torch.zeros(2, 9))
    with pytest.raises(GanlensError, match="composition layer 7 is out of range"):
        G.synthesis_head(torch.zeros(1, 8), 7)


def test_codes_file_roundtrip_and_model_check(tmp_path):
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=4))
    cf = CodesFile(codes=np.random.randn(3, 8), model="tiny", names=["a", "b", "c"])
    cf.save(tmp_path / "c.npz")
    back = CodesFile.load(tmp_path / "c.npz")
    assert back.names == ["a", "b", "c"] and back.model == "tiny"
    np.testing.assert_array_equal(back.codes, cf.codes)
    back.check_model(G)
    other = DCGANGenerator(DCGANConfig(resolution=16, z_dim=10, ngf=4))
    with pytest.raises(GanlensError, match=r"expects \(10,\)"):
        back.check_model(other)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(GanlensError, match="not a readable"):
        CodesFile.load(tmp_path / "bad.npz")


def test_models_command_lists_zoo(capsys, no_network):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "digiface-dcgan64" in out and "dcgan" in out


def test_atomic_write_permissions_and_no_partial_file(tmp_path):
    import os
    import stat

    from ganlens.utils.io import atomic_path, write_text

    write_text(tmp_path / "a.txt", "hello")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    # safetensors writes weights as a 0600 file; saved weights get the same plain permissions
    import torch

    from ganlens.generators.native import save_state

    save_state(torch.nn.Linear(2, 2), tmp_path / "w.safetensors")
    assert stat.S_IMODE(os.stat(tmp_path / "w.safetensors").st_mode) == 0o666 & ~umask
    (tmp_path / "w.safetensors").unlink()
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("crash mid-write")
    assert not (tmp_path / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_saved_weights_are_the_same_bytes_every_time(tmp_path):
    """The safetensors library orders metadata at random, so the same weights exported twice had
    two sha256 sums (a zoo entry's checksum could not be reproduced)."""
    import hashlib
    import subprocess
    import sys

    from safetensors import safe_open
    from safetensors.torch import load_file

    from ganlens.utils.io import safetensors_bytes, write_safetensors

    tensors = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.ones(5, dtype=torch.bfloat16)}
    meta = {k: f"value {i}" for i, k in enumerate("zyxwvuts")}
    # the 8! orders of this metadata: a random one per save; here always the same bytes
    assert len({safetensors_bytes(tensors, meta) for _ in range(8)}) == 1
    code = (
        "import torch, hashlib, sys; from ganlens.utils.io import safetensors_bytes; "
        "t = {'b': torch.arange(6.0).reshape(2, 3), 'a': torch.ones(5, dtype=torch.bfloat16)}; "
        "m = {k: f'value {i}' for i, k in enumerate('zyxwvuts')}; "
        "sys.stdout.write(hashlib.sha256(safetensors_bytes(t, m)).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert other == hashlib.sha256(safetensors_bytes(tensors, meta)).hexdigest()
    write_safetensors(tmp_path / "w.safetensors", tensors, meta)
    back = load_file(str(tmp_path / "w.safetensors"))
    assert set(back) == {"a", "b"} and all(torch.equal(back[k], tensors[k]) for k in tensors)
    with safe_open(str(tmp_path / "w.safetensors"), "pt") as f:
        assert f.metadata() == meta
    write_safetensors(tmp_path / "none.safetensors", tensors)  # no metadata
    assert torch.equal(load_file(str(tmp_path / "none.safetensors"))["b"], tensors["b"])


def test_demo_job_runs_offline(tmp_path, capsys, no_network):
    """What `make demo` runs (SeFa on the built-in model, shrunk) never opens a connection."""
    pytest.importorskip("gan_face_generate")
    out = tmp_path / "report"
    rc = main(
        ["sefa", "digiface-dcgan64", "-L", "all", "-K", "2", "-N", "2", "--steps", "3", "--out", str(out)]
    )
    assert rc == 0
    assert (out / "index.html").is_file()
    assert str(out / "index.html") in capsys.readouterr().out
