"""Post-hoc EMA: a run's G re-averaged from its checkpoints with another half-life, in the library
and in ``ganlens train stylegan2-export --ema-kimg``. Tiny 16-px runs, one thread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ganlens.cli.main import main as cli_main
from ganlens.errors import GanlensError
from ganlens.generators.native import load_generator
from ganlens.training import posthoc_ema
from ganlens.training.checkpoint import checkpoint_generator, list_checkpoints, read_checkpoint_state
from ganlens.training.config import TrainConfig
from ganlens.training.export import export_generator
from ganlens.training.stylegan2 import train_stylegan2

TINY = dict(resolution=16, z_dim=32, w_dim=32, map_layers=2, channel_base=256, channel_max=32, progress=False)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run with a checkpoint after each of its 6 steps (batch 4) and a G_ema half-life of 12 images."""
    tmp = tmp_path_factory.mktemp("posthoc")
    data = tmp / "noise16.npy"
    np.save(data, np.random.RandomState(0).randint(0, 256, (24, 16, 16, 3)).astype(np.uint8))
    cfg = TrainConfig(
        data=str(data),
        out=str(tmp / "run"),
        kimg=0.024,
        batch=4,
        r1_interval=2,
        pl_interval=2,
        tick_kimg=0.004,
        snapshot_kimg=0.004,
        keep_checkpoints=10,
        grid_seeds=4,
        ema_kimg=0.012,
        ema_rampup=None,
        **TINY,
    )
    train_stylegan2(cfg)
    return tmp / "run"


def _flat(G) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in G.parameters()])


def test_posthoc_ema_weighs_the_oldest_g_ema_by_its_half_lives(run, tmp_path):
    """With G still, the result is s·G_ema₀ + (1 − s)·G, s = 0.5^(Δkimg / half-life)."""
    cks = list_checkpoints(run)
    assert len(cks) == 6
    # a copy of the run in which every checkpoint's raw G is the last one's
    still = tmp_path / "still" / "checkpoints"
    for ck in cks:
        (still / ck.name).mkdir(parents=True)
        for f in ck.iterdir():
            (still / ck.name / f.name).write_bytes(f.read_bytes())
        save_file(load_file(str(cks[-1] / "G.safetensors")), str(still / ck.name / "G.safetensors"))
    copies = list_checkpoints(tmp_path / "still")
    for h in (0.004, 0.02):
        res = posthoc_ema(copies, h)
        s = 0.5 ** (0.020 / h)
        assert res.kimg == pytest.approx((0.004, 0.008, 0.012, 0.016, 0.020, 0.024))
        assert res.start_share == pytest.approx(s)
        want = s * _flat(checkpoint_generator(cks[0], "G_ema")) + (1 - s) * _flat(
            checkpoint_generator(cks[-1], "G")
        )
        assert torch.allclose(_flat(res.generator), want, atol=1e-6)


def test_posthoc_ema_with_the_runs_half_life_tracks_its_g_ema(run):
    """Re-averaged with the run's own half-life, G lands near the G_ema training kept (a trapezoid
    over each step against training's per-step update), far nearer than the raw G or a half-life
    four times shorter."""
    cks = list_checkpoints(run)
    true = _flat(checkpoint_generator(cks[-1], "G_ema"))
    moved = (true - _flat(checkpoint_generator(cks[0], "G_ema"))).norm()

    def err(h: float) -> float:
        return float((_flat(posthoc_ema(cks, h).generator) - true).norm() / moved)

    assert err(0.012) < 0.25
    assert err(0.003) > 2 * err(0.012)
    assert float((_flat(checkpoint_generator(cks[-1], "G")) - true).norm() / moved) > 2 * err(0.012)
    # buffers are the last raw G's
    res = posthoc_ema(cks, 0.012).generator
    raw = checkpoint_generator(cks[-1], "G")
    assert all(torch.equal(a, b) for a, b in zip(res.buffers(), raw.buffers(), strict=True))


def test_posthoc_ema_refuses_bad_input(run, tmp_path):
    cks = list_checkpoints(run)
    with pytest.raises(GanlensError, match="half-life 0 kimg must be positive"):
        posthoc_ema(cks, 0)
    with pytest.raises(GanlensError, match="at least 2 checkpoints; got 1"):
        posthoc_ema(cks[:1], 1.0)
    with pytest.raises(GanlensError, match="must be in training order: step-00000001"):
        posthoc_ema([cks[1], cks[0]], 1.0)
    other = tmp_path / "other"
    other.mkdir()
    for f in cks[1].iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    state = json.loads((other / "state.json").read_text())
    state["g_config"]["w_dim"] = 64
    (other / "state.json").write_text(json.dumps(state))
    with pytest.raises(GanlensError, match="different configs"):
        posthoc_ema([cks[0], other], 1.0)
    with pytest.raises(GanlensError, match="cannot go with generator 'G'"):
        export_generator(run, tmp_path / "m", generator="G", ema_kimg=1.0)
    with pytest.raises(GanlensError, match="is not one of the checkpoints of run"):
        export_generator(run, tmp_path / "m", checkpoint=other, ema_kimg=1.0)


def test_export_with_ema_kimg_writes_the_reaveraged_g(run, tmp_path, capsys):
    cks = list_checkpoints(run)
    export = ["train", "stylegan2-export", "--run", str(run), "--out", str(tmp_path / "m")]
    assert cli_main([*export, "--ema-kimg", "0.004"]) == 0
    out = capsys.readouterr().out
    assert "re-averaged G over 6 checkpoints (0.00–0.02 kimg) with a half-life of 0.004 kimg" in out
    assert "step-00000001's G_ema weighs 3 %" in out
    assert "exported G re-averaged with a 0.004-kimg half-life up to step-00000006 (0.02 kimg)" in out
    want = posthoc_ema(cks, 0.004).generator.state_dict()
    got = load_generator(tmp_path / "m").state_dict()
    assert all(torch.equal(v, want[k]) for k, v in got.items())
    # up to an earlier checkpoint: only the checkpoints before it
    res = export_generator(run, tmp_path / "m3", checkpoint=cks[2], ema_kimg=0.004)
    assert res.posthoc is not None and res.posthoc.checkpoints == tuple(cks[:3])
    assert res.step == read_checkpoint_state(cks[2]).step
    # a bad half-life is one line on stderr and a non-zero exit
    assert cli_main([*export[:-1], str(tmp_path / "m2"), "--ema-kimg", "-1"]) != 0
    err = capsys.readouterr().err
    assert "half-life -1.0 kimg must be positive" in err and "Traceback" not in err


def test_average_generators_is_the_mean_of_every_tensor(run):
    """Each parameter and buffer (w_avg too) of the average is the mean of the inputs'."""
    from ganlens.training import average_generators

    cks = list_checkpoints(run)
    gens = [checkpoint_generator(cks[i], "G") for i in (0, 2, 5)]
    avg = average_generators(gens)
    for name, t in avg.state_dict().items():
        want = sum(g.state_dict()[name] for g in gens) / 3
        assert torch.allclose(t, want, atol=1e-6), name
    assert not torch.equal(_flat(avg), _flat(gens[0]))


def test_average_generators_refuses_one_generator_and_other_configs(run):
    from ganlens.generators import build_generator
    from ganlens.training import average_generators

    G = checkpoint_generator(list_checkpoints(run)[0], "G")
    with pytest.raises(GanlensError, match="at least 2 generators; got 1"):
        average_generators([G])
    other = build_generator({**G.config.to_dict(), "arch": G.arch, "w_dim": 16})
    with pytest.raises(GanlensError, match="different config"):
        average_generators([G, other])


def test_cli_average_writes_the_mean_with_the_aids(run, tmp_path, capsys):
    """``ganlens train stylegan2-average`` writes the mean G, copies --aids-from's D and Adam, and
    refuses to overwrite without --overwrite (one line, exit 2)."""
    a, b = tmp_path / "a", tmp_path / "b"
    cks = list_checkpoints(run)
    export_generator(run, a, checkpoint=cks[1], with_discriminator=True, with_adam=True)
    export_generator(run, b, checkpoint=cks[4])
    out = tmp_path / "soup"
    assert (
        cli_main(["train", "stylegan2-average", str(a), str(b), "--aids-from", str(a), "--out", str(out)])
        == 0
    )
    assert "averaged 2 generators" in capsys.readouterr().out
    got, wa, wb = (load_file(str(p / "model.safetensors")) for p in (out, a, b))
    for k in got:
        assert torch.allclose(got[k], (wa[k] + wb[k]) / 2, atol=1e-6), k
    assert (out / "discriminator" / "model.safetensors").read_bytes() == (
        a / "discriminator" / "model.safetensors"
    ).read_bytes()
    assert (out / "adam").is_dir()
    assert cli_main(["train", "stylegan2-average", str(a), str(b), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    # replacing it without --aids-from leaves no stale D behind
    assert cli_main(["train", "stylegan2-average", str(a), str(b), "--out", str(out), "--overwrite"]) == 0
    assert not (out / "discriminator").exists() and not (out / "adam").exists()
    assert cli_main(["train", "stylegan2-average", str(a), "--out", str(tmp_path / "one")]) == 2
    assert "at least 2 models; got 1" in capsys.readouterr().err
