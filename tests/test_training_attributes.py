"""Attribute-marginal matching (``--attr-weight``): the classes A learns, the terms G gets, that
they pull G the right way, that a run resumes bit for bit, and one-line errors for bad options."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor

from ganlens.data.toonfaces import load_records
from ganlens.data.toonfaces.build import render_dataset
from ganlens.errors import GanlensError
from ganlens.training.attributes import (
    ATTR_FOLLOW_LR_SCALE,
    AttributeNet,
    AttributeNetConfig,
    attribute_loss,
    cosine_lr,
    expected_values,
    fit_attribute_net,
    load_attribute_net,
    marginal_terms,
    pair_joints,
    pair_term,
    quantile_term,
    sliced_feature_term,
    toonfaces_attribute_targets,
)
from ganlens.training.checkpoint import latest_checkpoint
from ganlens.training.config import TrainConfig
from ganlens.training.stylegan2 import StyleGAN2Trainer, train_stylegan2

TINY = dict(resolution=16, z_dim=32, w_dim=32, map_layers=2, channel_base=256, channel_max=32, progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def toon(tmp_path_factory):
    path = tmp_path_factory.mktemp("attr") / "toon"
    render_dataset(path, n=24, size=16, seed=7, progress=False)
    return path


def test_targets_are_the_records_classes_and_bins(toon):
    schema, records = load_records(toon)
    t = toonfaces_attribute_targets(toon, bins=4)
    assert t.names == schema.names and t.targets.shape == (24, len(schema))
    for j, f in enumerate(schema):
        col = t.targets[:, j]
        for i, r in enumerate(records):
            if r[f.name] is None:  # only a factor with `requires`: its last class
                assert f.requires is not None and int(col[i]) == t.num_classes[j] - 1
            elif f.categorical:
                assert int(col[i]) == f.classes.index(r[f.name])
            else:  # bin of the value's position in the range
                pos = (float(r[f.name]) - f.range[0]) / (f.range[1] - f.range[0])
                assert int(col[i]) == min(int(pos * 4), 3)
        k = (f.num_classes if f.categorical else 4) + (f.requires is not None)
        assert t.num_classes[j] == k
    parts = t.marginals.split(t.num_classes)
    for j, p in enumerate(parts):
        assert float(p.sum()) == pytest.approx(1.0)
        assert torch.allclose(p, torch.bincount(t.targets[:, j], minlength=len(p)).float() / 24)
    odd = toonfaces_attribute_targets(toon, bins=4, shard=(1, 2))  # marginals stay the whole set's
    assert torch.equal(odd.targets, t.targets[1::2]) and torch.equal(odd.marginals, t.marginals)


def test_targets_refuse_other_data_and_one_bin(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 16, 16, 3), np.uint8))
    with pytest.raises(GanlensError, match=r"x\.npy' is not one"):
        toonfaces_attribute_targets(tmp_path / "x.npy", bins=8)
    with pytest.raises(GanlensError, match="attr_bins 1 must be at least 2"):
        toonfaces_attribute_targets(tmp_path / "x.npy", bins=1)


def test_marginal_terms_by_hand():
    pi = torch.tensor([0.5, 0.25, 0.25, 0.1, 0.9])  # two factors: 3 classes, 2 classes
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.3, -0.2], [0.0, 1.0, 0.5, 1.5, 0.0]])
    kl, ent = marginal_terms(logits, pi, (3, 2))
    want_kl, want_ent = [], []
    for part, p in zip(logits.split((3, 2), dim=1), pi.split((3, 2)), strict=True):
        q = part.softmax(1)
        qbar = q.mean(0)
        want_kl.append(float((p * (p / qbar).log()).sum()))
        want_ent.append(float(-(q * q.log()).sum(1).mean()))
    assert float(kl) == pytest.approx(sum(want_kl) / 2, abs=1e-6)
    assert float(ent) == pytest.approx(sum(want_ent) / 2, abs=1e-6)
    # samples that each read as the data's distribution: no KL left, the entropy is the data's
    flat = pi.log().expand(4, -1)
    kl0, ent0 = marginal_terms(flat, pi, (3, 2))
    h = -(0.5 * math.log(0.5) + 0.5 * math.log(0.25)) - (0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    assert float(kl0) == pytest.approx(0.0, abs=1e-6) and float(ent0) == pytest.approx(h / 2, abs=1e-6)


def test_attribute_loss_and_accuracy():
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 2.0, 0.0]])
    targets = torch.tensor([[0, 1], [2, 0]])  # factor 0: right, wrong; factor 1: right, right
    loss, acc = attribute_loss(logits, targets, (3, 2))
    want = (
        torch.nn.functional.cross_entropy(logits[:, :3], targets[:, 0])
        + torch.nn.functional.cross_entropy(logits[:, 3:], targets[:, 1])
    ) / 2
    assert float(loss) == pytest.approx(float(want)) and float(acc) == pytest.approx(0.75)


def _assert_learns(A: AttributeNet, x: Tensor, t) -> None:
    """60 Adam steps on the renders cut A's loss below 30 % of its first value, accuracy above 0.9."""
    opt = torch.optim.Adam(A.parameters(), lr=0.002)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss, acc = attribute_loss(A(x), t.targets, t.num_classes)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    last = float(loss.detach())
    assert last < 0.3 * first and float(acc) > 0.9, (first, last, float(acc))


def test_attribute_net_learns_the_renders_factors(toon):
    from ganlens.data.toonfaces import load_images_tensor

    t = toonfaces_attribute_targets(toon, bins=4)
    x = load_images_tensor(toon, progress=False).float() / 127.5 - 1
    torch.manual_seed(0)
    A = AttributeNet(AttributeNetConfig(16, 3, t.num_classes, channel_base=16, channel_max=64))
    _assert_learns(A, x, t)
    with pytest.raises(GanlensError, match=r"expects \(B, 3, 16, 16\); got \(2, 3, 8, 8\)"):
        A(torch.zeros(2, 3, 8, 8))


def _trainer(data, out, **kw) -> StyleGAN2Trainer:
    out.mkdir()
    cfg = TrainConfig(data=str(data), out=str(out), batch=8, noise="none", mixing=0.0, **{**TINY, **kw})
    return StyleGAN2Trainer(cfg)


def test_marginal_term_moves_g_towards_the_data_histograms(toon, tmp_path):
    """With A trained on the renders and then fixed, a few steps of G on the term alone lower it
    on samples G was not trained on."""
    from ganlens.data.toonfaces import load_images_tensor

    t = _trainer(toon, tmp_path / "run", attr_weight=1.0, attr_bins=4)
    marg, k = t.attr.marginals, t.attr.num_classes
    x = load_images_tensor(toon, progress=False).float() / 127.5 - 1
    opt_a = torch.optim.Adam(t.A.parameters(), lr=0.002)
    t.A.requires_grad_(True)
    for _ in range(40):
        opt_a.zero_grad()
        attribute_loss(t.A(x), t.attr.targets, k)[0].backward()
        opt_a.step()
    t.A.requires_grad_(False)
    z = torch.randn(64, t.G.z_dim, generator=torch.Generator().manual_seed(99))

    def held_out_kl() -> float:
        with torch.no_grad():
            return float(marginal_terms(t.A(t.G.synthesis(t.G.mapping(z))), marg, k)[0])

    before = held_out_kl()
    opt = torch.optim.Adam(t.G.parameters(), lr=0.01)
    t.G.requires_grad_(True)
    gen = torch.Generator().manual_seed(1)
    for _ in range(15):
        opt.zero_grad()
        img = t.G.synthesis(t.G.mapping(torch.randn(32, t.G.z_dim, generator=gen)))
        marginal_terms(t.A(img), marg, k)[0].backward()
        opt.step()
    after = held_out_kl()
    assert after < 0.7 * before, (before, after)


def _train(data, out, kimg, **kw):
    cfg = TrainConfig(
        data=str(data), out=str(out), kimg=kimg, batch=4, r1_interval=2, pl_interval=2, tick_kimg=0.008,
        snapshot_kimg=0.008, grid_seeds=4, resume=True, **{**TINY, **kw},
    )  # fmt: skip
    return train_stylegan2(cfg)


ATTR = {"attr_weight": 1.0, "attr_bins": 4, "attr_pretrain_kimg": 0.012}  # A learns alone for 3 steps first


def test_attribute_run_resumes_bit_exactly_and_logs_its_terms(toon, tmp_path):
    straight = _train(toon, tmp_path / "a", 0.032, **ATTR)  # 8 steps
    _train(toon, tmp_path / "b", 0.016, **ATTR)  # 4 steps ...
    resumed = _train(toon, tmp_path / "b", 0.032, **ATTR)  # ... + 4 after --resume
    assert straight.step == resumed.step == 8
    ca, cb = latest_checkpoint(tmp_path / "a"), latest_checkpoint(tmp_path / "b")
    for name in ("G", "D", "G_ema", "A", "opt_G", "opt_D", "opt_A"):
        ta, tb = load_file(str(ca / f"{name}.safetensors")), load_file(str(cb / f"{name}.safetensors"))
        assert ta.keys() == tb.keys()
        for key in ta:
            assert torch.equal(ta[key], tb[key]), f"{name}.{key} differs after resume"
    state = json.loads((cb / "state.json").read_text())
    assert state["a_config"]["arch"] == "attribute-net" and state["a_config"]["num_classes"][0] == 3
    rows = [json.loads(line) for line in (tmp_path / "b" / "stats.jsonl").read_text().splitlines()]
    assert all(k in rows[-1] for k in ("loss_attr", "attr_acc", "attr_kl", "attr_entropy"))
    log = (tmp_path / "b" / "log.txt").read_text()
    assert (
        "attribute matching weight 1 (entropy 0.1, 4 bins, A's lr 0.0001, A pretrained first on 0.012 kimg "
        "at lr 0.001 → 0.0001)" in log
    )
    assert log.count("attribute network pretrained on 0.01 kimg of real images") == 1  # not again on resume
    _train(toon, tmp_path / "b", 0.036, **{**ATTR, "attr_lr": 0.003})  # a new rate on resume is noted
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "note: opt_A lr 0.0001 → 0.0003 (this run's options" in log

    # a run without A goes on with a fresh one, whose warm-up counts from there
    plain = _train(toon, tmp_path / "plain", 0.016)
    more = _train(
        toon, tmp_path / "more", 0.024, resume_from=str(latest_checkpoint(tmp_path / "plain")), **ATTR
    )
    assert plain.step == 4 and more.step == 6
    log = (tmp_path / "more" / "log.txt").read_text()
    assert "the attribute network starts fresh" in log and "attribute network pretrained on" in log
    assert (latest_checkpoint(tmp_path / "more") / "A.safetensors").is_file()

    # load_attribute_net reads A back (as the benchmark does); a checkpoint without one is refused
    A = load_attribute_net(cb)
    saved = load_file(str(cb / "A.safetensors"))
    assert not A.training and all(torch.equal(v, saved[k]) for k, v in A.state_dict().items())
    with pytest.raises(GanlensError, match="has no attribute network"):
        load_attribute_net(latest_checkpoint(tmp_path / "plain"))


def test_pretraining_teaches_a_and_the_term_reaches_g(toon, tmp_path):
    """A fresh A learns alone before the first step; then, with the same init and draws, G's
    weights after one step differ between a negligible and a large weight of the term."""
    runs = {}
    for w in (1e-9, 5.0):
        t = _trainer(
            toon, tmp_path / f"w{w}", attr_weight=w, attr_bins=4, attr_pretrain_kimg=0.24, attr_lr=0.002
        )
        idx = t.sampler.indices(0)
        x, targets = t.reals(idx, torch.Generator())[0], t.attr.targets[idx]

        def loss_now(t=t, x=x, targets=targets) -> float:
            with torch.no_grad():
                return float(attribute_loss(t.A.eval()(x), targets, t.attr.num_classes)[0])

        before = loss_now()
        t.pretrain_attributes()  # 30 steps of batch 8
        assert loss_now() < 0.5 * before, (before, loss_now())
        t.train_step()
        runs[w] = t
    assert all(
        torch.equal(a, b) for a, b in zip(runs[1e-9].A.parameters(), runs[5.0].A.parameters(), strict=True)
    )
    assert not all(
        torch.equal(a, b) for a, b in zip(runs[1e-9].G.parameters(), runs[5.0].G.parameters(), strict=True)
    )


def test_pretraining_lowers_a_learning_rate_to_the_rate_it_follows_at(toon, tmp_path):
    t = _trainer(toon, tmp_path / "r", attr_weight=1.0, attr_bins=4, attr_lr=0.002, attr_pretrain_kimg=0.08)
    assert t.opt_A.param_groups[0]["lr"] == pytest.approx(0.002 * ATTR_FOLLOW_LR_SCALE)
    seen, step = [], t.attr_step

    def spy(*args):
        seen.append(t.opt_A.param_groups[0]["lr"])
        return step(*args)

    t.attr_step = spy
    t.pretrain_attributes()  # 10 steps of batch 8
    assert len(seen) == 10 and seen[0] == pytest.approx(0.002)
    assert all(a > b for a, b in zip(seen, seen[1:])) and seen[-1] > 0.002 * ATTR_FOLLOW_LR_SCALE
    assert t.opt_A.param_groups[0]["lr"] == pytest.approx(0.002 * ATTR_FOLLOW_LR_SCALE)


def test_a_learns_to_be_unsure_of_generated_images_with_attr_fake_entropy(toon, tmp_path):
    """With the same init and batches, A's steps with the fake-entropy term leave it less sure of
    generated images than steps on real images alone; the generated batch never moves BatchNorm's
    running statistics."""
    readings = {}
    for beta in (0.0, 1.0):
        t = _trainer(
            toon, tmp_path / f"b{beta}", attr_weight=1.0, attr_bins=4, attr_fake_entropy=beta, attr_lr=0.02
        )  # A follows at 0.002
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            fake = t.run_generator(t.z(8, gen), gen)[0]
        for i in range(15):
            idx = t.sampler.indices(i)
            stats = t.attr_step(t.images_at(idx), t.attr.targets[idx], fake if beta else None)
            if i == 0:  # same weights so far: the running statistics can differ only by the fakes
                buffers = [b.clone() for b in t.A.buffers()]
        with torch.no_grad():
            _, ent = marginal_terms(t.A.eval()(fake), t.attr.marginals, t.attr.num_classes)
        readings[beta] = (float(ent), buffers, stats)
    assert readings[1.0][0] > readings[0.0][0] + 0.05, (readings[0.0][0], readings[1.0][0])
    assert all(torch.equal(a, b) for a, b in zip(readings[0.0][1], readings[1.0][1], strict=True))
    assert "attr_fake_entropy" in readings[1.0][2] and "attr_fake_entropy" not in readings[0.0][2]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"attr_weight": -1.0}, "attr_weight -1.0 must be >= 0"),
        ({"attr_bins": 1}, "attr_bins 1 must be at least 2"),
        ({"attr_lr": 0.0}, "attr_lr 0.0 must be positive"),
        ({"attr_entropy": -0.5}, "attr_entropy -0.5 must be >= 0"),
        ({"attr_pretrain_kimg": -1.0}, "attr_pretrain_kimg -1.0 must be >= 0"),
        ({"attr_fake_entropy": -0.5}, "attr_fake_entropy -0.5 must be >= 0"),
        ({"attr_fake_entropy": 0.5}, r"attr_fake_entropy 0.5 needs attr_weight > 0"),
        ({"attr_weight": 1.0, "attr_quantile": -1.0}, "attr_quantile -1.0 must be >= 0"),
        ({"attr_quantile": 0.5}, r"attr_quantile 0.5 needs attr_weight > 0"),
        ({"attr_weight": 1.0, "attr_features": -1.0}, "attr_features -1.0 must be >= 0"),
        ({"attr_features": 0.5}, r"attr_features 0.5 needs attr_weight > 0"),
        ({"attr_weight": 1.0, "attr_pairs": -1.0}, "attr_pairs -1.0 must be >= 0"),
        ({"attr_pairs": 0.5}, r"attr_pairs 0.5 needs attr_weight > 0"),
        ({"attr_weight": 1.0, "cond": "hat"}, "attr_weight is for unconditional runs"),
        ({"attr_weight": 1.0, "xflip": True}, "attr_weight needs xflip off"),
        ({"attr_weight": 1.0, "attr_downsample": "max"}, "attr_downsample 'max' is not one of pool, stride"),
    ],
)
def test_bad_attribute_options_are_one_line_errors(kw, message):
    with pytest.raises(GanlensError, match=message):
        TrainConfig(data="x", out="y", **{**TINY, **kw})


def test_cli_refuses_attribute_matching_on_unlabelled_data(tmp_path, capsys):
    from ganlens.cli.main import main as cli_main

    np.save(tmp_path / "x.npy", np.zeros((8, 16, 16, 3), np.uint8))
    code = cli_main(
        ["train", "stylegan2", "--data", str(tmp_path / "x.npy"), "--res", "16", "--out", str(tmp_path / "run"),
         "--kimg", "0.008", "--batch", "4", "--attr-weight", "1", "--no-progress"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "is not one" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_reader_factors_take_per_factor_weights(tmp_path, capsys):
    from ganlens.cli.main import main as cli_main
    from ganlens.cli.train_stylegan2 import parse_reader_factors

    assert parse_reader_factors("smile=4, brow_shape,scale=0.5") == (
        ("smile", "brow_shape", "scale"),
        (4.0, 1.0, 0.5),
    )
    assert parse_reader_factors("smile,scale") == (("smile", "scale"), ())  # all 1: the plain mean
    assert parse_reader_factors(None) == ((), ())
    code = cli_main(
        ["train", "stylegan2", "--data", "x", "--res", "16", "--out", str(tmp_path / "run"),
         "--reader-factors", "smile=lots"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert (
        code == 2 and "'smile=lots'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    )


def test_cosine_lr_runs_from_start_to_end():
    assert cosine_lr(0, 10, 1e-3, 1e-4) == pytest.approx(1e-3)
    assert cosine_lr(5, 10, 1e-3, 1e-4) == pytest.approx(5.5e-4)
    assert cosine_lr(10, 10, 1e-3, 1e-4) == pytest.approx(1e-4)


def test_fit_attribute_net_learns_the_renders_and_is_reproducible(toon):
    from ganlens.training.data import load_images

    images, t = load_images(toon, resolution=16), toonfaces_attribute_targets(toon, bins=4)
    config = AttributeNetConfig(resolution=16, img_channels=3, num_classes=t.num_classes, channel_base=8)

    def loss_of(net) -> float:
        with torch.no_grad():
            return float(attribute_loss(net(images.float() / 127.5 - 1), t.targets, t.num_classes)[0])

    untrained = fit_attribute_net(config, images, t.targets, steps=1, lr=1e-9, batch=8, progress=False)
    net = fit_attribute_net(config, images, t.targets, steps=40, lr=0.01, batch=8, seed=3, progress=False)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert loss_of(net) < 0.6 * loss_of(untrained), (loss_of(untrained), loss_of(net))
    again = fit_attribute_net(config, images, t.targets, steps=40, lr=0.01, batch=8, seed=3, progress=False)
    assert all(
        torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True)
    )
    with pytest.raises(GanlensError, match=r"24 images and targets \(23, 20\) do not pair up"):
        fit_attribute_net(config, images, t.targets[:23], steps=1, progress=False)
    with pytest.raises(GanlensError, match="steps 0 and batch 64 must be at least 1"):
        fit_attribute_net(config, images, t.targets, steps=0, progress=False)


def test_expected_values_read_continuous_factors_as_bin_centres():
    logits = torch.full((2, 3 + 5), -30.0)  # a categorical factor (3), then a binned one (4 + "n/a")
    logits[0, 3 + 0] = logits[1, 3 + 3] = 30.0  # first bin, last bin
    v = expected_values(logits, (3, 5), (False, True), bins=4)
    assert v.shape == (2, 1) and v[:, 0].tolist() == pytest.approx([-0.75, 0.75])
    with pytest.raises(GanlensError, match="no continuous factor"):
        expected_values(logits, (3, 5), (False, False), bins=4)


def test_quantile_term_is_zero_for_the_same_spread_and_widens_a_narrow_batch():
    real = torch.linspace(-0.9, 0.9, 16)[torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    real = torch.stack([real, -real], dim=1)  # (16, 2)
    assert float(quantile_term(real.flip(0), real)) == pytest.approx(0.0, abs=1e-4)  # order does not matter
    fake = (0.3 * real).requires_grad_(True)  # same shape of distribution, a third of the spread
    assert float(quantile_term(fake.detach(), real)) > 0.1
    opt = torch.optim.SGD([fake], lr=2.0)
    for _ in range(20):
        opt.zero_grad()
        quantile_term(fake, real).backward()
        opt.step()
    assert float(fake.detach().std()) > 0.95 * float(real.std())
    # a batch of unclear samples, all read at the middle, is far from the real quantiles
    assert float(quantile_term(torch.zeros(16, 2), real)) > 0.25


def test_read_gives_the_logits_and_the_hidden_layer_they_come_from():
    net = AttributeNet(AttributeNetConfig(16, 3, (3, 4))).eval()
    img = torch.rand(5, 3, 16, 16) * 2 - 1
    logits, hidden = net.read(img)
    assert hidden.shape == (5, 256) and torch.equal(logits, net(img))
    assert torch.allclose(net.head[-1](hidden), logits)
    with pytest.raises(GanlensError, match=r"expects \(B, 3, 16, 16\); got \(5, 3, 8, 8\)"):
        net.read(img[:, :, :8, :8])


def test_sliced_feature_term_sees_a_joint_mismatch_and_pulls_the_batch_to_the_real_one():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, generator=g)
    real = torch.cat([x, x], dim=1)  # two perfectly correlated features
    same = sliced_feature_term(
        real[torch.randperm(256, generator=g)], real, 64, torch.Generator().manual_seed(1)
    )
    assert float(same) == pytest.approx(0.0, abs=1e-4)
    # each feature's marginal is right but the pair is independent: only the joint view sees it
    indep = torch.cat([x, x[torch.randperm(256, generator=g)]], dim=1)
    assert float(quantile_term(indep, real)) == pytest.approx(0.0, abs=1e-4)
    assert float(sliced_feature_term(indep, real, 64, torch.Generator().manual_seed(1))) > 0.05
    # a collapsed batch is pulled outwards to the real spread
    fake = (0.2 * torch.randn(256, 2, generator=g)).requires_grad_(True)
    opt = torch.optim.SGD([fake], lr=20.0)
    start = float(sliced_feature_term(fake.detach(), real, 64, torch.Generator().manual_seed(2)))
    for i in range(100):
        opt.zero_grad()
        sliced_feature_term(fake, real, 64, torch.Generator().manual_seed(100 + i)).backward()
        opt.step()
    end = float(sliced_feature_term(fake.detach(), real, 64, torch.Generator().manual_seed(2)))
    assert end < 0.2 * start
    with pytest.raises(GanlensError, match="same D"):
        sliced_feature_term(torch.zeros(4, 3), torch.zeros(4, 2), 8)
    with pytest.raises(GanlensError, match="directions 0 must be at least 1"):
        sliced_feature_term(torch.zeros(4, 2), torch.zeros(4, 2), 0)


def test_pair_joints_by_hand():
    targets = torch.tensor([[0, 1, 2], [0, 0, 2], [1, 1, 0], [1, 1, 2]])
    joints = pair_joints(targets, (2, 2, 3))
    assert [tuple(j.shape) for j in joints] == [(2, 2), (2, 3), (2, 3)]  # pairs (0, 1), (0, 2), (1, 2)
    assert torch.equal(joints[0], torch.tensor([[0.25, 0.25], [0.0, 0.5]]))
    assert torch.equal(joints[2], torch.tensor([[0.0, 0.0, 0.25], [0.25, 0.0, 0.5]]))
    with pytest.raises(GanlensError, match=r"targets must be \(N, 2\)"):
        pair_joints(targets, (2, 2))


def test_pair_term_sees_a_tie_between_factors_that_the_marginals_miss():
    num_classes = (2, 2)
    data = torch.tensor([[a, b] for a in (0, 1) for b in (0, 1)] * 8)  # independent, uniform
    joints = pair_joints(data, num_classes)
    marginals = torch.full((4,), 0.5)

    def logits(rows):  # confident readings of the given classes
        return torch.cat([F.one_hot(rows[:, j], 2).float() * 20 for j in range(2)], dim=1)

    same = logits(data)
    assert float(pair_term(same, joints, num_classes)[0]) == pytest.approx(0.0, abs=1e-6)
    tied = logits(torch.tensor([[0, 0], [1, 1]] * 16))  # each marginal uniform, but always a == b
    assert float(marginal_terms(tied, marginals, num_classes)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(pair_term(tied, joints, num_classes)[0]) > 1.0
    # its gradient unties them: a batch of free logits moves towards the independent joint
    free = tied.clone().div(20).requires_grad_(True)
    opt = torch.optim.SGD([free], lr=5.0)
    start = float(pair_term(free.detach(), joints, num_classes)[0])
    for _ in range(200):
        opt.zero_grad()
        pair_term(free, joints, num_classes)[0].backward()
        opt.step()
    assert float(pair_term(free.detach(), joints, num_classes)[0]) < 0.2 * start
    with pytest.raises(GanlensError, match="2 joint tables for 1 pairs"):
        pair_term(same, joints * 2, num_classes)
    with pytest.raises(GanlensError, match="1 joint tables and 2 running means for 1 pairs"):
        pair_term(same, joints, num_classes, running=joints * 2)
    with pytest.raises(GanlensError, match=r"momentum 0 must be in \(0, 1\]"):
        pair_term(same, joints, num_classes, momentum=0)


def test_pair_term_running_mean_removes_the_small_batch_bias():
    """Confident readings drawn as the data draws them: one batch of 4 is a noisy joint with a large
    KL, the running mean over batches is close to the data's, and the gradient through the batch
    is the linearised KL at the running mean."""
    num_classes = (3, 3)
    g = torch.Generator().manual_seed(0)
    joints = pair_joints(torch.randint(0, 3, (30000, 2), generator=g), num_classes)
    running, single = None, []
    for _ in range(200):
        rows = torch.randint(0, 3, (4, 2), generator=g)
        lg = torch.cat([F.one_hot(rows[:, j], 3).float() * 20 for j in range(2)], dim=1)
        term, running = pair_term(lg, joints, num_classes, running, momentum=0.05)
        single.append(float(pair_term(lg, joints, num_classes)[0]))
    assert sum(single) / len(single) > 1.0 and float(term) < 0.1
    assert all(not t.requires_grad for t in running)
    # the gradient: -Σ π / p̄_running · ∂p̄_batch
    x = torch.zeros(2, 6, requires_grad=True)
    term, new = pair_term(x, joints, num_classes, running, momentum=0.05)
    term.backward()
    pbar = running[0] * 0.95 + 0.05 * torch.full((3, 3), 1 / 9)
    assert torch.allclose(new[0], pbar)
    xx = torch.zeros(2, 6, requires_grad=True)
    pa, pb = xx[:, :3].softmax(1), xx[:, 3:].softmax(1)
    (-(joints[0] / pbar * (pa.T @ pb / 2)).sum()).backward()
    assert torch.allclose(x.grad, xx.grad, atol=1e-6)


def test_pair_run_resumes_bit_exactly_with_its_running_means(toon, tmp_path):
    kw = {**ATTR, "attr_pairs": 1.0}
    _train(toon, tmp_path / "a", 0.032, **kw)  # 8 steps
    _train(toon, tmp_path / "b", 0.016, **kw)  # 4 steps ...
    _train(toon, tmp_path / "b", 0.032, **kw)  # ... + 4 after --resume
    ca, cb = latest_checkpoint(tmp_path / "a"), latest_checkpoint(tmp_path / "b")
    for name in ("G", "G_ema", "A"):
        ta, tb = load_file(str(ca / f"{name}.safetensors")), load_file(str(cb / f"{name}.safetensors"))
        assert all(torch.equal(ta[key], tb[key]) for key in ta), f"{name} differs after resume"
    sa, sb = (json.loads((c / "state.json").read_text())["attr_pair_mean"] for c in (ca, cb))
    factors = len(json.loads((ca / "state.json").read_text())["a_config"]["num_classes"])
    assert sa == sb and len(sa) == factors * (factors - 1) // 2
    assert "pairs 1, " in (tmp_path / "b" / "log.txt").read_text()


@pytest.mark.parametrize(
    ("option", "stat"),
    [("attr_quantile", "attr_w2"), ("attr_features", "attr_sw2"), ("attr_pairs", "attr_pair_kl")],
)
def test_each_extra_attribute_term_reaches_g(toon, tmp_path, option, stat):
    runs = {}
    for lam in (0.0, 5.0):
        t = _trainer(
            toon,
            tmp_path / f"{option}{lam}",
            attr_weight=1.0,
            attr_bins=4,
            attr_pretrain_kimg=0,
            **{option: lam},
        )
        runs[lam] = (t.train_step(), t)
    assert stat in runs[5.0][0] and stat not in runs[0.0][0] and runs[5.0][0][stat] > 0
    g0, g1 = (runs[lam][1].G.parameters() for lam in (0.0, 5.0))
    assert not all(torch.equal(a, b) for a, b in zip(g0, g1, strict=True))
    if option == "attr_pairs":  # the running mean of G's joint readings starts with the first step
        assert runs[5.0][1].attr_pair_mean is not None and runs[0.0][1].attr_pair_mean is None


def test_export_carries_d_low_and_a_to_a_restart(toon, tmp_path, capsys):
    """export --with-d writes the run's D_low and A beside D (A in float16) and --with-adam D_low's
    moments; --init-g starts them from there (no pretraining) where they fit, fresh where not, and
    re-exporting a run without them over the folder removes the stale ones."""
    from ganlens.cli.main import main as cli_main
    from ganlens.training.export import TRAINING_AID_DIRS, model_training_aids

    LOWRES_DISCRIMINATOR_DIR, ATTRIBUTE_NET_DIR = TRAINING_AID_DIRS["D_low"], TRAINING_AID_DIRS["A"]

    _train(toon, tmp_path / "a", 0.016, lowres_d=8, crop_d=8, **ATTR)
    ck = latest_checkpoint(tmp_path / "a")
    m = tmp_path / "m"
    args = ["train", "stylegan2-export", "--run", str(tmp_path / "a"), "--out", str(m), "--with-d"]
    assert cli_main([*args, "--with-adam"]) == 0
    assert ", discriminator_low/, discriminator_crop/, attribute_net/;" in capsys.readouterr().out
    assert (m / "adam" / "opt_D_low.safetensors").is_file() and (
        m / "adam" / "opt_D_crop.safetensors"
    ).is_file()
    stored = load_file(str(m / ATTRIBUTE_NET_DIR / "model.safetensors"))
    assert stored["head.1.weight"].dtype == torch.float16
    aids = model_training_aids(m)
    assert sorted(aids) == ["A", "D_crop", "D_low"]
    D_low, A = aids["D_low"], aids["A"]
    ref_low, ref_a = load_file(str(ck / "D_low.safetensors")), load_file(str(ck / "A.safetensors"))
    assert all(torch.equal(v, ref_low[k]) for k, v in D_low.state_dict().items())
    for k, v in A.state_dict().items():
        assert v.dtype == ref_a[k].dtype
        assert torch.allclose(v.float(), ref_a[k].float(), rtol=1e-3, atol=1e-4), k

    t = _trainer(toon, tmp_path / "b", init_generator=str(m), lowres_d=8, crop_d=8, **ATTR)
    crop_ref = load_file(str(ck / "D_crop.safetensors"))
    assert all(torch.equal(v, crop_ref[k]) for k, v in t.aux_d("crop").D.state_dict().items())
    assert not t.a_fresh  # no pretraining
    assert all(torch.equal(v, D_low.state_dict()[k]) for k, v in t.aux_d("low").D.state_dict().items())
    assert all(torch.equal(v, A.state_dict()[k]) for k, v in t.A.state_dict().items())
    moments = load_file(str(ck / "opt_D_low.safetensors"))
    got = {i: st["exp_avg_sq"] for i, st in t.aux_d("low").opt.state_dict()["state"].items()}
    assert got and all(
        torch.all((v - moments[f"{i}.exp_avg_sq"]).abs() <= 0.1 * moments[f"{i}.exp_avg_sq"])
        for i, v in got.items()
    )
    log = (tmp_path / "b" / "log.txt").read_text()
    assert f"D_low (8 px) from its {LOWRES_DISCRIMINATOR_DIR}/" in log
    assert "D_crop (8-px window at (4, 4)) from its discriminator_crop/" in log
    assert f"the attribute network from its {ATTRIBUTE_NET_DIR}/ (no pretraining)" in log
    assert all(torch.isfinite(torch.tensor(v)) for v in t.train_step().values())

    # other bins: A cannot read the same classes, so a fresh one (pretrained); no D_low asked for
    t = _trainer(toon, tmp_path / "c", init_generator=str(m), **{**ATTR, "attr_bins": 5})
    assert t.a_fresh and t.aux_d("low") is None
    assert "the attribute network starts fresh" in (tmp_path / "c" / "log.txt").read_text()

    # a run without them, exported over the folder: no stale D_low, A or D_low moments are left
    _train(toon, tmp_path / "plain", 0.008)
    args[3] = str(tmp_path / "plain")
    assert cli_main([*args, "--with-adam", "--overwrite"]) == 0
    assert not (m / LOWRES_DISCRIMINATOR_DIR).exists() and not (m / ATTRIBUTE_NET_DIR).exists()
    assert not (m / "adam" / "opt_D_low.safetensors").exists() and not (m / "discriminator_crop").exists()
    assert model_training_aids(m) == {}


def test_strided_attribute_net_halves_with_convolutions_and_learns(toon):
    """``downsample="stride"`` replaces each block's average pool by a stride-2 second convolution:
    no pooling layer, the same parameter count and output, and it learns the renders too."""
    from ganlens.data.toonfaces import load_images_tensor

    t = toonfaces_attribute_targets(toon, bins=4)
    x = load_images_tensor(toon, progress=False).float() / 127.5 - 1
    kw = {"channel_base": 16, "channel_max": 64}
    pooled = AttributeNet(AttributeNetConfig(16, 3, t.num_classes, **kw))
    torch.manual_seed(0)
    A = AttributeNet(AttributeNetConfig(16, 3, t.num_classes, downsample="stride", **kw))
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in A.modules())
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in pooled.modules())
    assert sum(p.numel() for p in A.parameters()) == sum(p.numel() for p in pooled.parameters())
    assert A(x).shape == pooled(x).shape == (len(x), sum(t.num_classes))
    _assert_learns(A, x, t)
    # a config saved before the option existed reads as pooling
    old = {k: v for k, v in AttributeNetConfig(16, 3, t.num_classes).to_dict().items() if k != "downsample"}
    assert AttributeNetConfig.from_dict(old).downsample == "pool"
    with pytest.raises(GanlensError, match="downsample 'max' is not one of pool, stride"):
        AttributeNetConfig(16, 3, t.num_classes, downsample="max")


def test_attr_downsample_other_than_the_checkpoints_starts_a_fresh_a(toon, tmp_path):
    """Resuming another run's checkpoint with a pooling A: the same kind (or no option) loads it;
    ``attr_downsample="stride"`` starts a fresh strided A, pretrains it and says why, and the
    run's own checkpoints then resume it as it is."""
    base = _train(toon, tmp_path / "base", 0.016, **ATTR)
    ck = latest_checkpoint(tmp_path / "base")
    assert json.loads((ck / "state.json").read_text())["a_config"]["downsample"] == "pool"
    assert base.step == 4

    _train(toon, tmp_path / "same", 0.020, resume_from=str(ck), **ATTR)
    log = (tmp_path / "same" / "log.txt").read_text()
    assert "attribute network starts fresh" not in log and "attribute network pretrained" not in log

    _train(toon, tmp_path / "new", 0.020, resume_from=str(ck), attr_downsample="stride", **ATTR)
    log = (tmp_path / "new" / "log.txt").read_text()
    assert (
        "the attribute network starts fresh: the checkpoint's downsamples by pool, --attr-downsample stride"
        in log
    )
    assert log.count("attribute network pretrained on") == 1
    new_ck = latest_checkpoint(tmp_path / "new")
    assert json.loads((new_ck / "state.json").read_text())["a_config"]["downsample"] == "stride"
    A = load_attribute_net(new_ck)
    assert A.config.downsample == "stride" and not any(isinstance(m, torch.nn.AvgPool2d) for m in A.modules())

    _train(toon, tmp_path / "new", 0.024, resume_from=str(ck), attr_downsample="stride", **ATTR)
    log = (tmp_path / "new" / "log.txt").read_text()
    assert log.count("attribute network pretrained on") == 1  # its own checkpoint's A, not a fresh one


def test_reader_term_by_hand():
    """Zero for the same batch in another order; a categorical factor's term is the KL of the mean
    class probabilities, a continuous one's the W2 of its values; only the generated side learns."""
    from ganlens.data.toonfaces import TOONFACES_SCHEMA
    from ganlens.training.attributes import reader_term

    torch.manual_seed(0)

    def batch(n):
        return {
            f.name: torch.randn(n, f.num_classes) if f.categorical else torch.rand(n) * 2 - 1
            for f in TOONFACES_SCHEMA
        }

    real = batch(32)
    perm = torch.randperm(32)
    shuffled = {k: v[perm] for k, v in real.items()}
    assert float(reader_term(shuffled, real, TOONFACES_SCHEMA)) < 1e-7  # float rounding of the means
    fake = {k: v.clone().requires_grad_(True) for k, v in batch(32).items()}
    term = reader_term(fake, real, TOONFACES_SCHEMA)
    by_hand = []
    for f in TOONFACES_SCHEMA:
        a, b = fake[f.name].detach(), real[f.name]
        if f.categorical:
            p, q = b.softmax(1).mean(0), a.softmax(1).mean(0)
            by_hand.append(float((p * (p / q).log()).sum()))
        else:
            by_hand.append(float(((a.sort().values - b.sort().values) ** 2).mean()))
    assert abs(float(term.detach()) - sum(by_hand) / len(by_hand)) < 1e-5
    term.backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in fake.values())

    # named factors: the mean over those alone, and no gradient to the others
    names = [f.name for f in TOONFACES_SCHEMA]
    chosen = ("smile", "brow_shape")
    fake = {k: v.detach().clone().requires_grad_(True) for k, v in fake.items()}
    part = reader_term(fake, real, TOONFACES_SCHEMA, chosen)
    want = sum(by_hand[names.index(n)] for n in chosen) / len(chosen)
    assert abs(float(part.detach()) - want) < 1e-5
    part.backward()
    assert all((fake[n].grad is not None and fake[n].grad.abs().sum() > 0) == (n in chosen) for n in names)
    # per-factor weights multiply each named factor's term before the mean
    weighted = reader_term(fake, real, TOONFACES_SCHEMA, chosen, (4.0, 1.0))
    want = (4 * by_hand[names.index("smile")] + by_hand[names.index("brow_shape")]) / 2
    assert abs(float(weighted.detach()) - want) < 1e-5
    with pytest.raises(GanlensError, match="one entry per factor"):
        reader_term(fake, real, TOONFACES_SCHEMA, chosen, (4.0,))
    # a larger real side (a bank of several batches): its quantiles and class frequencies
    bank = {k: torch.cat([v, v]) for k, v in real.items()}
    assert abs(float(reader_term(fake, bank, TOONFACES_SCHEMA).detach()) - sum(by_hand) / len(by_hand)) < 1e-4


def test_reader_term_reaches_g_and_bad_readers_are_one_line_errors(toon, tmp_path):
    from ganlens.classifier import save_classifier
    from ganlens.classifier.model import AttributeClassifier, ClassifierConfig
    from ganlens.data.toonfaces import TOONFACES_SCHEMA

    torch.manual_seed(0)
    save_classifier(
        AttributeClassifier(ClassifierConfig(resolution=16, channels=(8, 16), feature_dim=16)), tmp_path / "C"
    )
    result = _train(toon, tmp_path / "r", 0.016, reader=str(tmp_path / "C"), reader_weight=1.0)
    rows = [json.loads(line) for line in (tmp_path / "r" / "stats.jsonl").read_text().splitlines()]
    assert result.step == 4 and all(row["reader_term"] > 0 for row in rows if "reader_term" in row)
    assert f"attribute reader {tmp_path / 'C'} (weight 1)" in (tmp_path / "r" / "log.txt").read_text()

    # same init and draws: G's weights after a step differ with the term's weight
    def g_after_one_step(weight, name="w", **kw):
        trainer = _trainer(
            toon, tmp_path / f"{name}{weight}", reader=str(tmp_path / "C"), reader_weight=weight, **kw
        )
        trainer.train_step()
        return torch.cat([p.detach().flatten() for p in trainer.G.parameters()])

    assert not torch.equal(g_after_one_step(1e-9), g_after_one_step(100.0))

    # named factors and a bank of real readings: the log says so, and the bank keeps K batches
    trainer = _trainer(
        toon,
        tmp_path / "fb",
        reader=str(tmp_path / "C"),
        reader_weight=1.0,
        reader_factors=("smile", "brow_shape"),
        reader_bank=3,
    )
    for _ in range(4):
        trainer.train_step()
    assert len(trainer.reader_bank) == 3
    assert all(b["smile"].shape[0] == trainer.local_batch for b in trainer.reader_bank)
    kw = {"reader_factors": ("smile", "brow_shape"), "reader_bank": 3}
    _train(toon, tmp_path / "fb-log", 0.008, reader=str(tmp_path / "C"), reader_weight=1.0, **kw)
    log = (tmp_path / "fb-log" / "log.txt").read_text()
    assert "(weight 1, factors smile, brow_shape, real readings of the last 3 steps)" in log
    # a weighted factor: the log shows its multiplier, and G's step differs from the unweighted one
    chosen = ("smile", "brow_shape")
    assert not torch.equal(
        g_after_one_step(1.0, "fu", reader_factors=chosen),
        g_after_one_step(1.0, "fw", reader_factors=chosen, reader_factor_weights=(50.0, 1.0)),
    )
    _train(
        toon,
        tmp_path / "fw-log",
        0.008,
        reader=str(tmp_path / "C"),
        reader_weight=1.0,
        reader_factors=("smile", "brow_shape"),
        reader_factor_weights=(4.0, 1.0),
    )
    assert "(weight 1, factors smile×4, brow_shape)" in (tmp_path / "fw-log" / "log.txt").read_text()
    # the bank is saved with the checkpoint, so a resumed run is the run that was not interrupted
    straight = _train(toon, tmp_path / "bank-a", 0.032, reader=str(tmp_path / "C"), reader_weight=1.0, **kw)
    _train(toon, tmp_path / "bank-b", 0.016, reader=str(tmp_path / "C"), reader_weight=1.0, **kw)
    resumed = _train(toon, tmp_path / "bank-b", 0.032, reader=str(tmp_path / "C"), reader_weight=1.0, **kw)
    assert straight.step == resumed.step == 8
    ca, cb = latest_checkpoint(tmp_path / "bank-a"), latest_checkpoint(tmp_path / "bank-b")
    assert len(json.loads((cb / "state.json").read_text())["reader_bank"]) == 3
    for name in ("G", "G_ema", "opt_G"):
        ta, tb = load_file(str(ca / f"{name}.safetensors")), load_file(str(cb / f"{name}.safetensors"))
        assert all(torch.equal(ta[key], tb[key]) for key in ta), f"{name} differs after resume"
    with pytest.raises(GanlensError, match=r"reader_factors \['grin'\] are not factors of the data"):
        _trainer(
            toon, tmp_path / "grin", reader=str(tmp_path / "C"), reader_weight=1.0, reader_factors=("grin",)
        )

    other = TOONFACES_SCHEMA.to_dict()
    other["factors"] = other["factors"][:5]
    save_classifier(
        AttributeClassifier(ClassifierConfig(resolution=16, channels=(8, 16), feature_dim=16, schema=other)),
        tmp_path / "C5",
    )
    with pytest.raises(GanlensError, match="reads factors .* the data has"):
        _trainer(toon, tmp_path / "bad", reader=str(tmp_path / "C5"), reader_weight=1.0)
    with pytest.raises(GanlensError, match="needs config.json and model.safetensors"):
        _trainer(toon, tmp_path / "missing", reader=str(tmp_path / "nope"), reader_weight=1.0)
    with pytest.raises(GanlensError, match="go together"):
        TrainConfig(data="x", out="y", reader=str(tmp_path / "C"), **TINY)
    with pytest.raises(GanlensError, match="needs reader"):
        TrainConfig(data="x", out="y", reader_factors=("smile",), **TINY)
    with pytest.raises(GanlensError, match="must be at least 1"):
        TrainConfig(data="x", out="y", reader=str(tmp_path / "C"), reader_weight=1.0, reader_bank=0, **TINY)
    reader = {"reader": str(tmp_path / "C"), "reader_weight": 1.0}
    for kw, error in (
        ({"reader_factors": ("smile", "scale"), "reader_factor_weights": (4.0,)}, "one entry per factor"),
        ({"reader_factors": ("smile", "scale"), "reader_factor_weights": (4.0, 0.0)}, "must all be > 0"),
        ({"reader_factors": ("smile", "smile")}, "names a factor twice"),
    ):
        with pytest.raises(GanlensError, match=error):
            TrainConfig(data="x", out="y", **reader, **kw, **TINY)


def test_export_carries_the_reader_and_reader_names_a_model(toon, tmp_path, capsys):
    """export --with-d copies the run's reader into attribute_reader/; --reader MODEL reads with
    that copy; a run whose reader is gone cannot be exported with D; a re-export without a reader
    over the folder removes the stale copy."""
    import shutil

    from ganlens.classifier import save_classifier
    from ganlens.classifier.model import AttributeClassifier, ClassifierConfig
    from ganlens.cli.main import main as cli_main
    from ganlens.training.export import READER_DIR, resolve_reader

    torch.manual_seed(0)
    save_classifier(
        AttributeClassifier(ClassifierConfig(resolution=16, channels=(8, 16), feature_dim=16)), tmp_path / "C"
    )
    _train(toon, tmp_path / "a", 0.008, reader=str(tmp_path / "C"), reader_weight=1.0)
    m = tmp_path / "m"
    args = ["train", "stylegan2-export", "--run", str(tmp_path / "a"), "--out", str(m), "--with-d"]
    assert cli_main(args) == 0
    assert f", {READER_DIR}/" in capsys.readouterr().out
    for name in ("config.json", "model.safetensors"):
        assert (m / READER_DIR / name).read_bytes() == (tmp_path / "C" / name).read_bytes()
    assert resolve_reader(m) == m / READER_DIR and resolve_reader(tmp_path / "C") == tmp_path / "C"

    t = _trainer(toon, tmp_path / "b", init_generator=str(m), reader=str(m), reader_weight=1.0)
    ref = load_file(str(tmp_path / "C" / "model.safetensors"))
    assert all(torch.equal(v, ref[k]) for k, v in t.reader.state_dict().items())

    shutil.move(tmp_path / "C", tmp_path / "C-moved")
    assert cli_main([*args, "--overwrite"]) == 2
    assert "trained with the attribute reader" in capsys.readouterr().err
    _train(toon, tmp_path / "plain", 0.008)
    args[3] = str(tmp_path / "plain")
    assert cli_main([*args, "--overwrite"]) == 0
    assert not (m / READER_DIR).exists()
