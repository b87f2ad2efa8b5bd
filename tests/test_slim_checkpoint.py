"""scripts/slim_checkpoint.py: a checkpoint shrunk to Adam's second moments and the training state,
rebuilt beside an exported model, resumes training; the rebuilt moments are within the log scale's
rounding of the originals. Tiny 16-px networks."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.test_training_stylegan2 import _train, noise_data  # noqa: F401 (fixture)

from ganlens.errors import GanlensError
from ganlens.training.checkpoint import latest_checkpoint
from ganlens.training.export import export_generator

_spec = importlib.util.spec_from_file_location(
    "slim_checkpoint", Path(__file__).resolve().parents[1] / "scripts" / "slim_checkpoint.py"
)
slim = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slim)


def test_quantize_round_trip():
    v = torch.tensor([0.0, 1e-20, 3e-12, 1e-6, 0.5, 7.0])
    codes, lo, hi = slim.quantize(v)
    assert codes.dtype == torch.uint8 and codes[0] == 0 and codes[1] == 1 and codes[-1] == 255
    back = slim.dequantize(codes, lo, hi)
    assert back[0] == 0
    half_step = 2 ** ((hi - lo) / (slim.LEVELS - 1) / 2) - 1  # relative error of half a code
    assert torch.all((back[1:] - v[1:]).abs() / v[1:] <= half_step + 1e-6)
    assert torch.equal(slim.quantize(torch.zeros(3))[0], torch.zeros(3, dtype=torch.uint8))


def test_pack_unpack_resume(noise_data, tmp_path, capsys):  # noqa: F811
    _train(noise_data, tmp_path / "a", 0.016)
    ck = latest_checkpoint(tmp_path / "a")
    export_generator(tmp_path / "a", tmp_path / "model", with_discriminator=True)
    assert slim.main(["pack", str(ck), str(tmp_path / "slim")]) == 0
    assert slim.main(["pack", str(tmp_path / "a"), str(tmp_path / "slim-run")]) == 0  # a run: its latest
    for name in ("opt_G.safetensors", "opt_D.safetensors", "state.json"):
        assert (tmp_path / "slim" / name).read_bytes() == (tmp_path / "slim-run" / name).read_bytes()
    unpack = [
        "unpack",
        str(tmp_path / "slim"),
        "--model",
        str(tmp_path / "model"),
        "--out",
        str(tmp_path / "ck"),
    ]
    assert slim.main(unpack) == 0
    for name in ("G_ema", "D"):
        a, b = (
            load_file(str(ck / f"{name}.safetensors")),
            load_file(str(tmp_path / "ck" / f"{name}.safetensors")),
        )
        assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("opt_G", "opt_D"):
        a, b = (
            load_file(str(ck / f"{name}.safetensors")),
            load_file(str(tmp_path / "ck" / f"{name}.safetensors")),
        )
        assert a.keys() == b.keys()
        for k in a:
            if k.endswith(".exp_avg_sq"):
                pos = a[k] > 0
                assert torch.equal(pos, b[k] > 0)
                assert torch.all((b[k][pos] - a[k][pos]).abs() <= 0.1 * a[k][pos])
            elif k.endswith(".step"):
                assert torch.equal(a[k], b[k])
    assert json.loads((tmp_path / "ck" / "state.json").read_text()) == json.loads(
        (ck / "state.json").read_text()
    )

    t = _train(noise_data, tmp_path / "b", 0.024, resume_from=str(tmp_path / "ck"))
    assert t.step == 6  # 4 steps from the checkpoint, 2 more
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "another run's checkpoint" in log and "Adam starts afresh" not in log

    # a model without its discriminator, and a first moment that matters, are refused in one line
    export_generator(tmp_path / "a", tmp_path / "model-no-d")
    capsys.readouterr()
    bad = [
        "unpack",
        str(tmp_path / "slim"),
        "--model",
        str(tmp_path / "model-no-d"),
        "--out",
        str(tmp_path / "x"),
    ]
    assert slim.main(bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "has no discriminator/" in err and err.count("\n") == 1
    capsys.readouterr()  # an existing folder is kept unless --overwrite
    assert slim.main(["pack", str(ck), str(tmp_path / "slim")]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert slim.main(["pack", str(ck), str(tmp_path / "slim"), "--overwrite"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".slim.")]  # no temporary folder left
    (tmp_path / "empty").mkdir()
    assert slim.main(["pack", str(tmp_path / "empty"), str(tmp_path / "y")]) == 2
    assert "is not a checkpoint folder (no state.json) or a run folder" in capsys.readouterr().err
    state = json.loads((ck / "state.json").read_text())
    state["train_config"]["betas"] = [0.9, 0.99]
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(GanlensError, match=r"betas\[0\] is 0.9"):
        slim.pack(ck, tmp_path / "slim2")
