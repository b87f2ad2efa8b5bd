"""Adam's second moments beside an export (adam/): written by export --with-adam within the log
scale's rounding of the checkpoint's, put back into both optimisers by --init-g, and refused with one
clear line where they do not fit. Tiny 16-px networks."""

import json

import pytest
import torch
from safetensors.torch import load_file
from tests.test_training_stylegan2 import TINY, _train, noise_data  # noqa: F401 (fixture)

from ganlens.cli.main import main as cli_main
from ganlens.errors import GanlensError
from ganlens.training.adam_state import LEVELS, dequantize, quantize, write_adam_state
from ganlens.training.checkpoint import latest_checkpoint
from ganlens.training.config import TrainConfig
from ganlens.training.export import export_generator
from ganlens.training.stylegan2 import StyleGAN2Trainer


def test_quantize_round_trip():
    v = torch.tensor([0.0, 1e-20, 3e-12, 1e-6, 0.5, 7.0])
    codes, lo, hi = quantize(v)
    assert codes.dtype == torch.uint8 and codes[0] == 0 and codes[1] == 1 and codes[-1] == 255
    back = dequantize(codes, lo, hi)
    assert back[0] == 0
    half_step = 2 ** ((hi - lo) / (LEVELS - 1) / 2) - 1  # relative error of half a code
    assert torch.all((back[1:] - v[1:]).abs() / v[1:] <= half_step + 1e-6)
    assert torch.equal(quantize(torch.zeros(3))[0], torch.zeros(3, dtype=torch.uint8))


def _second_moments(opt):
    return {i: st["exp_avg_sq"] for i, st in opt.state_dict()["state"].items()}


def test_export_with_adam_and_init_g(noise_data, tmp_path, capsys):  # noqa: F811
    _train(noise_data, tmp_path / "a", 0.016)
    ck = latest_checkpoint(tmp_path / "a")
    args = ["train", "stylegan2-export", "--run", str(tmp_path / "a"), "--out", str(tmp_path / "m")]
    assert cli_main([*args, "--with-d", "--with-adam"]) == 0
    assert "Adam's second moments to adam/" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "adam" / "state.json").read_text())["checkpoint_step"] == 4

    def trainer(out, **kw):
        (tmp_path / out).mkdir()
        cfg = TrainConfig(
            data=str(noise_data),
            out=str(tmp_path / out),
            batch=4,
            **{**TINY, "init_generator": str(tmp_path / "m"), **kw},
        )
        return StyleGAN2Trainer(cfg)

    t = trainer("b")
    for name, opt in (("opt_G", t.opt_G), ("opt_D", t.opt_D)):
        orig = load_file(str(ck / f"{name}.safetensors"))
        got = _second_moments(opt)
        assert len(got) == len(list(opt.param_groups[0]["params"]))
        for i, v in got.items():
            ref = orig[f"{i}.exp_avg_sq"]
            assert torch.equal(v > 0, ref > 0)
            assert torch.all((v - ref).abs() <= 0.1 * ref)  # within the log scale's rounding
            assert opt.state_dict()["state"][i]["step"] == orig[f"{i}.step"]
    assert t.step == 0 and t.nimg == 0  # a new run: the counters start at 0
    assert (
        "Adam's second moments from adam/ (its checkpoint at 0.02 kimg)"
        in (tmp_path / "b" / "log.txt").read_text()
    )
    stats = t.train_step()  # and it trains
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in ("loss_G", "loss_D"))
    assert _second_moments(trainer("c", init_adam=False).opt_G) == {}  # --no-init-adam: empty

    # refused in one line: adam/ without D, and moments that do not fit the model
    capsys.readouterr()
    assert cli_main([*args[:-1], str(tmp_path / "m2"), "--with-adam"]) == 2
    assert "with_adam needs with_discriminator" in capsys.readouterr().err
    _train(noise_data, tmp_path / "wide", 0.008, channel_max=64, channel_base=512)
    export_generator(tmp_path / "wide", tmp_path / "mw", with_discriminator=True)
    write_adam_state(ck, tmp_path / "mw")  # the small run's moments beside the wider model
    with pytest.raises(GanlensError, match="does not fit this model"):
        trainer("d", init_generator=str(tmp_path / "mw"))
    state = json.loads((ck / "state.json").read_text())
    state["train_config"]["betas"] = [0.9, 0.99]
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(GanlensError, match=r"betas\[0\] is 0.9"):
        write_adam_state(ck, tmp_path / "m3")
