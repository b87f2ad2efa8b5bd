"""Official StyleGAN2 checkpoint formats: NVIDIA pickle, rosinality .pt, genforce .pth.

References come from the official code, run once (tests/fixtures/stylegan2/make_official_fixture.py):
``ada_tiny.pkl`` was pickled by stylegan2-ada-pytorch itself, and the ``*_img.npy`` images were
synthesised by the ADA, rosinality and genforce generators from our exported weights.
"""

from __future__ import annotations

import argparse
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganlens import zoo
from ganlens.errors import CheckpointError
from ganlens.generators.native import load_generator
from ganlens.generators.stylegan2 import StyleGAN2Generator
from ganlens.loaders import export
from ganlens.loaders.genforce import load_genforce
from ganlens.loaders.nvidia import load_nvidia_pickle, read_network_pickle
from ganlens.loaders.rosinality import load_rosinality

FIX = Path(__file__).parent / "fixtures" / "stylegan2"
TOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    G = load_generator(FIX)
    ws = torch.from_numpy(np.load(FIX / "ws.npy"))
    imgs = {n: torch.from_numpy(np.load(FIX / f"{n}_img.npy")) for n in ("ada", "rosinality", "genforce")}
    return G, ws, imgs


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max())


# ---------------------------------------------------------------------- the real ADA pickle
def test_real_ada_pickle_state_is_bit_exact():
    net = read_network_pickle(FIX / "ada_tiny.pkl").G_ema
    got = net.state_dict()
    want = load_file(str(FIX / "ada_state_dict.safetensors"))
    assert set(got) == set(want) and len(want) > 50
    for k, v in want.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
    assert net.class_name == "Generator" and net.init_kwargs["mapping_kwargs"]["num_layers"] == 8


def test_real_ada_pickle_loads_and_matches_official_image(ref):
    G, ws, imgs = ref
    H = load_nvidia_pickle(FIX / "ada_tiny.pkl")
    assert isinstance(H, StyleGAN2Generator) and H.config == G.config
    assert maxdiff(H.synthesis(ws), imgs["ada"]) <= TOL
    assert zoo.load_model(FIX / "ada_tiny.pkl").num_ws == 8  # dispatch by suffix


def test_ada_export_equals_official_state_dict(ref):
    G, _, _ = ref
    mine = export.to_ada_state(G)
    want = load_file(str(FIX / "ada_state_dict.safetensors"))
    assert set(mine) == set(want)
    for k, v in want.items():
        assert torch.equal(mine[k], v), k


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    ("writer", "suffix", "loader", "official"),
    [
        (export.save_nvidia_pickle, ".pkl", load_nvidia_pickle, "ada"),
        (export.save_rosinality, ".pt", load_rosinality, "rosinality"),
        (export.save_genforce, ".pth", load_genforce, "genforce"),
    ],
)
def test_cross_format_round_trip(tmp_path, ref, writer, suffix, loader, official):
    G, ws, imgs = ref
    path = tmp_path / f"model{suffix}"
    writer(G, path)
    H = loader(path)
    assert H.config == G.config
    assert torch.equal(H.w_avg, G.w_avg)
    out = H.synthesis(ws)
    assert maxdiff(out, G.synthesis(ws)) <= TOL
    assert maxdiff(out, imgs[official]) <= TOL
    assert maxdiff(zoo.load_model(path).synthesis(ws), out) == 0.0


# ---------------------------------------------------------------------- negative controls
def _genforce_with(tmp_path, G, edit) -> StyleGAN2Generator:
    state = export.to_genforce_state(G)
    edit(state)
    torch.save({"generator_smooth": state}, tmp_path / "bad.pth")
    return load_genforce(tmp_path / "bad.pth")


def test_negative_control_missing_conv0_flip(tmp_path, ref):
    G, ws, imgs = ref

    def unflip(state):  # an exporter that forgot the TF-orientation flip of the upsampling convs
        for j in range(1, G.num_split_layers, 2):
            state[f"synthesis.layer{j}.weight"] = state[f"synthesis.layer{j}.weight"].flip([2, 3])

    bad = _genforce_with(tmp_path, G, unflip).synthesis(ws)
    assert maxdiff(bad, imgs["genforce"]) > 0.5  # orders of magnitude above TOL


def test_negative_control_bias_shift_twice(tmp_path, ref):
    G, ws, imgs = ref

    def shift_twice(state):  # +1 stored AND added at run time
        for k in state:
            if k.endswith("style.bias"):
                state[k] = state[k] + 1.0

    bad = _genforce_with(tmp_path, G, shift_twice).synthesis(ws)
    assert maxdiff(bad, imgs["genforce"]) > 0.5
    # and the rosinality layout without its +1
    state = export.to_rosinality_state(G)
    for k in state:
        if k.endswith("modulation.bias"):
            state[k] = state[k] - 1.0
    torch.save({"g_ema": state, "latent_avg": G.w_avg}, tmp_path / "bad.pt")
    assert maxdiff(load_rosinality(tmp_path / "bad.pt").synthesis(ws), imgs["rosinality"]) > 0.5


# ---------------------------------------------------------------------- rosinality variants
def test_rosinality_train_checkpoint_without_latent_avg(tmp_path, ref):
    G, ws, imgs = ref
    torch.save(
        {
            "g_ema": export.to_rosinality_state(G),
            "args": argparse.Namespace(size=32, n_mlp=8),
            "ada_aug_p": 0.0,
        },
        tmp_path / "train.pt",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        H = load_rosinality(tmp_path / "train.pt")
    assert any("no latent_avg" in str(w.message) for w in caught)
    with torch.no_grad():
        expect = H.mapping_network(torch.randn(4096, 32, generator=torch.Generator().manual_seed(0))).mean(0)
    assert torch.allclose(H.w_avg, expect, atol=1e-5)
    assert maxdiff(H.synthesis(ws), imgs["rosinality"]) <= TOL  # synthesis does not use w_avg


def test_psp_decoder_prefix(tmp_path, ref):
    G, ws, imgs = ref
    dec = {f"decoder.{k}": v for k, v in export.to_rosinality_state(G).items()}
    dec["encoder.input_layer.0.weight"] = torch.zeros(4, 3, 3, 3)
    latent_avg = G.w_avg[None].repeat(G.num_ws, 1)  # pSp stores one row per w+ entry
    torch.save(
        {"state_dict": dec, "latent_avg": latent_avg, "opts": {"stylegan_size": 32}}, tmp_path / "psp.pt"
    )
    H = load_rosinality(tmp_path / "psp.pt")
    assert torch.allclose(H.w_avg, G.w_avg)
    assert maxdiff(H.synthesis(ws), imgs["rosinality"]) <= TOL


def test_rosinality_wrong_content(tmp_path):
    torch.save({"something": torch.zeros(3)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="g_ema"):
        load_rosinality(tmp_path / "x.pt")


# ---------------------------------------------------------------------- genforce variants
def test_genforce_generator_key_and_bare_state(tmp_path, ref):
    G, ws, imgs = ref
    state = export.to_genforce_state(G)
    torch.save({"generator": state, "discriminator": {}}, tmp_path / "a.pth")
    torch.save(state, tmp_path / "b.pth")
    for name in ("a.pth", "b.pth"):
        assert maxdiff(load_genforce(tmp_path / name).synthesis(ws), imgs["genforce"]) <= TOL


def test_genforce_dispatches_legacy_families(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("ganlens.loaders.genforce_legacy")
    fake.stylegan_from_genforce = lambda state: (
        calls.append(("stylegan", sorted(state))) or torch.nn.Linear(1, 1)
    )
    fake.pggan_from_genforce = lambda state: calls.append(("pggan", sorted(state))) or torch.nn.Linear(1, 1)
    monkeypatch.setitem(sys.modules, "ganlens.loaders.genforce_legacy", fake)
    v1 = {"mapping.dense0.weight": torch.zeros(2, 2), "synthesis.layer0.const": torch.zeros(1, 2, 4, 4)}
    torch.save({"generator_smooth": v1}, tmp_path / "v1.pth")
    torch.save({"lod": torch.zeros(()), "layer0.weight": torch.zeros(2, 2, 4, 4)}, tmp_path / "pg.pth")
    load_genforce(tmp_path / "v1.pth")
    load_genforce(tmp_path / "pg.pth")
    assert [c[0] for c in calls] == ["stylegan", "pggan"]
    assert calls[0][1] == sorted(v1)


# ---------------------------------------------------------------------- unsupported and broken files
def test_conditional_pickle_without_its_label_embedding_is_refused(tmp_path, ref):
    """Conditional pickles load (tests/test_stylegan2_architectures.py); one whose weights lack the
    embedding its c_dim needs is a clear error."""
    G, _, _ = ref
    tree = export.ada_pickle_tree(G)
    tree.args[0]["state"]["_init_kwargs"]["c_dim"] = 10
    import io

    buf = io.BytesIO()
    export._Pickler(buf, protocol=4).dump({"G_ema": tree})
    (tmp_path / "c.pkl").write_bytes(buf.getvalue())
    with pytest.raises(
        CheckpointError, match=r"missing \['mapping_network.embed.bias', 'mapping_network.embed.weight'\]"
    ):
        load_nvidia_pickle(tmp_path / "c.pkl")


@pytest.mark.parametrize("suffix", [".pkl", ".pt", ".pth"])
def test_corrupt_and_truncated_files(tmp_path, ref, suffix):
    G, _, _ = ref
    writer = {".pkl": export.save_nvidia_pickle, ".pt": export.save_rosinality, ".pth": export.save_genforce}[
        suffix
    ]
    loader = {".pkl": load_nvidia_pickle, ".pt": load_rosinality, ".pth": load_genforce}[suffix]
    good = tmp_path / f"good{suffix}"
    writer(G, good)
    data = good.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "garbage": bytes(np.random.RandomState(0).randint(0, 256, 4096, dtype=np.uint8)),
        "empty": b"",
        "text": b"hello, I am not a checkpoint\n",
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}{suffix}"
        p.write_bytes(blob)
        with pytest.raises(CheckpointError) as e:
            loader(p)
        assert "\n" not in str(e.value), name
    with pytest.raises(CheckpointError):
        loader(tmp_path / f"missing{suffix}")


def test_pickle_of_wrong_content(tmp_path):
    import pickle

    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="G_ema"):
        load_nvidia_pickle(tmp_path / "list.pkl")


# ---------------------------------------------------------------------- TensorFlow-era pickles
def test_tf_pickle_matches_adas_own_converter(tmp_path, ref):
    G, ws, _ = ref
    export.save_tf_pickle(G, tmp_path / "stylegan2-tf.pkl")
    H = load_nvidia_pickle(tmp_path / "stylegan2-tf.pkl")
    assert H.config == G.config and torch.equal(H.w_avg, G.w_avg)
    official = torch.from_numpy(
        np.load(FIX / "ada_from_tf_img.npy")
    )  # ADA legacy.convert_tf_generator output
    assert maxdiff(H.synthesis(ws), official) <= TOL


def test_tf_stylegan_v1_pickle_is_refused_clearly(tmp_path):
    syn = export._tf_network(
        "G_synthesis", {"4x4/Const/StyleMod/weight": np.zeros((4, 8), np.float32)}, {}, {}
    )
    gs = export._tf_network("G", {"dlatent_avg": np.zeros(4, np.float32)}, {"synthesis": syn}, {})
    import io

    buf = io.BytesIO()
    export._Pickler(buf, protocol=3).dump((gs, gs, gs))
    (tmp_path / "v1.pkl").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match=r"StyleGAN \(v1\) TensorFlow pickle is not supported"):
        load_nvidia_pickle(tmp_path / "v1.pkl")


def test_settings_survive_every_format(tmp_path):
    """2 mapping layers (ADA 'auto'), z_dim ≠ w_dim, conv_clamp: nothing assumes the config-F defaults."""
    from ganlens.generators.stylegan2 import StyleGAN2Config

    torch.manual_seed(0)
    cfg = StyleGAN2Config(
        resolution=16,
        z_dim=24,
        w_dim=16,
        mapping_layers=2,
        channel_base=128,
        channel_max=16,
        conv_clamp=256.0,
    )
    G = StyleGAN2Generator(cfg).eval()
    ws = G.mapping(G.sample_z(2, seed=0))
    ref = G.synthesis(ws)
    for writer, name in [(export.save_nvidia_pickle, "a.pkl"), (export.save_tf_pickle, "t.pkl")]:
        writer(G, tmp_path / name)
        H = zoo.load_model(tmp_path / name)
        assert H.config == cfg, name
        assert maxdiff(H.synthesis(ws), ref) <= TOL
    for writer, name in [(export.save_rosinality, "r.pt"), (export.save_genforce, "g.pth")]:
        with pytest.warns(UserWarning, match="no conv_clamp"):
            writer(G, tmp_path / name)
        H = zoo.load_model(tmp_path / name)
        assert H.config.mapping_layers == 2 and H.config.z_dim == 24 and H.config.conv_clamp is None
        assert maxdiff(H.synthesis(ws), ref) <= TOL  # the clamp at 256 is never reached here


def test_stylegan3_repo_stylegan2_pickle_with_flat_kwargs(tmp_path, ref):
    """NVlabs/stylegan3's networks_stylegan2.Generator takes synthesis settings as top-level kwargs."""
    import io

    G, ws, imgs = ref
    tree = export.ada_pickle_tree(G)
    kw = tree.args[0]["state"]["_init_kwargs"]
    flat = dict(kw.pop("synthesis_kwargs").args[0])
    kw.update(flat, fused_modconv_default="inference_only", channel_max=G.config.channel_max)
    buf = io.BytesIO()
    export._Pickler(buf, protocol=4).dump({"G_ema": tree})
    (tmp_path / "sg3-stylegan2.pkl").write_bytes(buf.getvalue())
    H = load_nvidia_pickle(tmp_path / "sg3-stylegan2.pkl")
    assert H.config == G.config
    assert maxdiff(H.synthesis(ws), imgs["ada"]) <= TOL
