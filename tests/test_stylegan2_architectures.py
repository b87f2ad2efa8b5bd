"""The ``orig`` and ``resnet`` StyleGAN2 generators (ADA ``architecture``) and conditional models
(``c_dim > 0``), against the official code.

``ada_orig.pkl``, ``ada_resnet.pkl`` and ``ada_cond.pkl`` were pickled by stylegan2-ada-pytorch itself,
the ``ada_{orig,resnet,resnet_clamp05}_img.npy`` images synthesised by its ``Generator`` from the
fixture's ``ws.npy``, and ``ada_cond_{mapping,trunc,img}.npy`` made by the conditional one from
``z.npy`` and classes 0, 1, 3 (tests/fixtures/stylegan2/make_official_arch_fixture.py, run once).
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch

from ganlens import zoo
from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.stylegan2 import StyleGAN2Generator
from ganlens.loaders import export
from ganlens.loaders.nvidia import load_nvidia_pickle
from ganlens.sefa import factorize
from ganlens.training.widen import widen_stylegan2
from test_loaders_stylegan2 import FIX, TOL, maxdiff

ARCHS = ("orig", "resnet")


@pytest.fixture(scope="module")
def ws():
    return torch.from_numpy(np.load(FIX / "ws.npy"))  # (3, 8, 32), an independent w on every row


@pytest.fixture(scope="module", params=ARCHS)
def official(request):
    arch = request.param
    G = load_nvidia_pickle(FIX / f"ada_{arch}.pkl")
    return arch, G, torch.from_numpy(np.load(FIX / f"ada_{arch}_img.npy"))


def test_official_pickle_loads_and_draws_the_official_image(official, ws):
    arch, G, want = official
    assert isinstance(G, StyleGAN2Generator) and G.config.architecture == arch
    assert maxdiff(G.synthesis(ws), want) <= TOL
    net = G.synthesis_network
    blocks = [getattr(net, f"b{r}") for r in net.block_resolutions]
    assert [b.torgb is not None for b in blocks] == [False] * (len(blocks) - 1) + [True]
    assert [b.skip is not None for b in blocks] == [False] + [arch == "resnet"] * (len(blocks) - 1)
    assert G.num_ws == 8 and sorted(G.projection_weights()) == list(range(8))


def test_resnet_conv_clamp_is_scaled_by_the_branch_gain(ws):
    """ADA clamps a resnet conv1 at clamp·√½; at 0.5 most pixels clip, so a wrong bound shows."""
    G = load_nvidia_pickle(FIX / "ada_resnet.pkl")
    Gc = StyleGAN2Generator(replace(G.config, conv_clamp=0.5)).eval()
    Gc.load_state_dict(G.state_dict())
    want = torch.from_numpy(np.load(FIX / "ada_resnet_clamp05_img.npy"))
    assert maxdiff(Gc.synthesis(ws), want) <= TOL
    assert maxdiff(G.synthesis(ws), want) > 0.1  # the clamp matters here


def test_architectures_draw_different_images(ws):
    """Negative control: the resnet weights run as 'orig' (shortcuts dropped) miss the official image."""
    G = load_nvidia_pickle(FIX / "ada_resnet.pkl")
    O = StyleGAN2Generator(replace(G.config, architecture="orig")).eval()
    O.load_state_dict({k: v for k, v in G.state_dict().items() if ".skip." not in k})
    assert maxdiff(O.synthesis(ws), torch.from_numpy(np.load(FIX / "ada_resnet_img.npy"))) > 0.1


def test_split_at_every_layer_composes(official, ws):
    arch, G, _ = official
    ref = G.synthesis(ws)
    for layer in range(1, G.num_split_layers):
        feat = G.synthesis_head(ws, layer)
        assert tuple(feat.shape[1:]) == G.feature_shape(layer)
        assert maxdiff(G.synthesis_tail(feat, ws, layer), ref) <= 1e-5, layer
    r, name = G.synthesis_network.layers[1]  # b8.conv0: a resnet feature carries the block's shortcut
    c = G.config.nf(r)
    assert G.feature_shape(2) == ((2 * c if arch == "resnet" else c), r, r)
    if arch == "resnet":
        feat = G.synthesis_head(ws, 2)
        feat[:, c:] = 0
        assert maxdiff(G.synthesis_tail(feat, ws, 2), ref) > 1e-3


@pytest.mark.parametrize("fmt", ["nvidia", "tf"])
def test_round_trip_through_the_official_layouts(tmp_path, official, ws, fmt):
    arch, G, want = official
    path = tmp_path / f"{arch}-{fmt}.pkl"
    (export.save_nvidia_pickle if fmt == "nvidia" else export.save_tf_pickle)(G, path)
    H = zoo.load_model(path)
    assert H.config == G.config
    assert maxdiff(H.synthesis(ws), want) <= TOL


def _revised_tf_pickle(G: StyleGAN2Generator, lod: float) -> bytes:
    """G (orig) in the layout of StyleGAN2 configs B–D (``G_synthesis_stylegan_revised``): one ToRGB
    per level of detail at the synthesis root, ``ToRGB_lod0`` the full-resolution one."""
    params = export.to_tf_params(G)
    R = G.resolution
    syn = {}
    for k, v in params.items():
        if k.startswith(f"synthesis/{R}x{R}/ToRGB/"):
            syn["ToRGB_lod0/" + k.rsplit("/", 1)[1]] = v
        elif k.startswith("synthesis/"):
            syn[k.split("/", 1)[1]] = v
    for lod_i in range(1, G.config.log2_resolution - 1):  # lower levels: they never reach a grown output
        for name in ("weight", "bias", "mod_weight", "mod_bias"):
            syn[f"ToRGB_lod{lod_i}/{name}"] = np.full_like(syn[f"ToRGB_lod0/{name}"], 7.0)
    syn["lod"] = np.float32(lod)
    mapping = {k.split("/", 1)[1]: v for k, v in params.items() if k.startswith("mapping/")}
    kw = export.tf_static_kwargs(G.config)
    kw.pop("architecture")
    kw["structure"] = "auto"
    comps = {
        "mapping": export._tf_network("G_mapping", mapping, {}, {}),
        "synthesis": export._tf_network("G_synthesis", syn, {}, {}),
    }
    gs = export._tf_network("G", {"dlatent_avg": params["dlatent_avg"]}, comps, kw)
    buf = io.BytesIO()
    export._Pickler(buf, protocol=3).dump((gs, gs, gs))
    return buf.getvalue()


def test_tf_configs_b_to_d_load_as_orig(tmp_path, ws):
    G = load_nvidia_pickle(FIX / "ada_orig.pkl")
    (tmp_path / "revised.pkl").write_bytes(_revised_tf_pickle(G, lod=0.0))
    H = load_nvidia_pickle(tmp_path / "revised.pkl")
    assert H.config == G.config
    assert maxdiff(H.synthesis(ws), torch.from_numpy(np.load(FIX / "ada_orig_img.npy"))) <= TOL
    (tmp_path / "growing.pkl").write_bytes(_revised_tf_pickle(G, lod=1.5))
    with pytest.raises(CheckpointError, match=r"mid-growth \(lod 1\.5\)"):
        load_nvidia_pickle(tmp_path / "growing.pkl")


@pytest.mark.parametrize("fmt", ["rosinality", "genforce"])
def test_skip_only_formats_refuse_other_architectures(tmp_path, official, fmt):
    arch, G, _ = official
    writer = export.save_rosinality if fmt == "rosinality" else export.save_genforce
    with pytest.raises(
        GanlensError, match=f"the {fmt} format holds 'skip' StyleGAN2 generators only; this one is '{arch}'"
    ):
        writer(G, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_widening_keeps_the_images(official, ws):
    arch, G, _ = official
    res = widen_stylegan2(G, channel_base=G.config.channel_base * 2, channel_max=G.config.channel_max * 2)
    assert res.generator.config.architecture == arch and res.max_abs_diff <= 1e-4
    assert maxdiff(res.generator.synthesis(ws), G.synthesis(ws)) <= 1e-4


def test_sefa_runs_on_both_modes(official):
    _, G, _ = official
    for mode in ("sefa", "rosinality"):
        d = factorize(G, mode=mode, num=5)
        assert d.vectors.shape == (5, G.w_dim) and np.all(np.diff(d.eigenvalues) <= 1e-6)


# ---------------------------------------------------------------------- conditional models (c_dim > 0)
@pytest.fixture(scope="module")
def cond():
    return load_nvidia_pickle(FIX / "ada_cond.pkl")


def _npy(name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(FIX / name))


def test_conditional_pickle_maps_and_draws_like_ada(cond):
    """ADA's MappingNetwork embeds the one-hot class, normalises it and concatenates it to z."""
    z = _npy("z.npy")
    assert cond.c_dim == 4 and cond.mapping_network.embed.weight.shape == (32, 4)
    w = cond.mapping(z, c=torch.tensor([0, 1, 3]))
    # w reaches |2.5| after 8 float32 layers: rounding differs by CPU (1.3e-6 on one of ours)
    assert maxdiff(w, _npy("ada_cond_mapping.npy")) <= 1e-5
    assert (
        maxdiff(cond.mapping(z, c=[0, 1, 3], trunc_psi=0.7, trunc_cutoff=4), _npy("ada_cond_trunc.npy"))
        <= 1e-5
    )
    assert maxdiff(cond.synthesis(w), _npy("ada_cond_img.npy")) <= TOL
    assert maxdiff(cond.mapping(z, c=torch.eye(4)[[0, 1, 3]]), w) == 0  # label rows as given
    assert maxdiff(cond.mapping(z, c=2), w) > 0.01  # the class matters


def test_class_errors_are_one_line_and_name_the_range(cond):
    z = torch.zeros(2, cond.z_dim)
    with pytest.raises(GanlensError, match=r"conditional \(4 classes\): give a class 0–3 \(mapping's c"):
        cond.mapping(z)
    with pytest.raises(GanlensError, match=r"class 4 is not allowed; this model has classes 0–3"):
        cond.mapping(z, c=4)
    with pytest.raises(GanlensError, match=r"labels have shape \(2, 3\); expected \(2, 4\)"):
        cond.mapping(z, c=torch.zeros(2, 3))
    G = load_nvidia_pickle(FIX / "ada_orig.pkl")
    with pytest.raises(GanlensError, match="unconditional"):
        G.mapping(z[:, :32], c=0)


def test_conditional_round_trips_and_skip_only_formats_refuse(tmp_path, cond, ws):
    z = _npy("z.npy")
    want = cond.mapping(z, c=[0, 1, 3])
    export.save_nvidia_pickle(cond, tmp_path / "c.pkl")
    cond.save_pretrained(str(tmp_path / "folder"))
    for H in (zoo.load_model(tmp_path / "c.pkl"), zoo.load_model(tmp_path / "folder")):
        assert H.config == cond.config and maxdiff(H.mapping(z, c=[0, 1, 3]), want) == 0
    for writer in (export.save_rosinality, export.save_genforce, export.save_tf_pickle):
        with pytest.raises(GanlensError, match="unconditional generators only; this one has c_dim 4"):
            writer(cond, tmp_path / "x")


def test_cli_class_option(tmp_path, cond, capsys):
    from ganlens.cli.main import main

    pkl = str(FIX / "ada_cond.pkl")
    args = ["generate", "--model", pkl, "--seeds", "0-1", "--no-progress", "--out"]
    assert main([*args, str(tmp_path / "a"), "--class", "3"]) == 0
    cond.default_class = 3
    try:
        img = cond.synthesis(cond.mapping(cond.z_from_seeds([1])))
    finally:
        cond.default_class = None
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "a" / "seed0001.png"), dtype=np.float32)
    want = ((img[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255)).numpy()
    assert np.abs(png - want).max() <= 1.0
    capsys.readouterr()
    assert main([*args, str(tmp_path / "b")]) == 2
    assert "conditional (4 classes): pass --class 0 to 3" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "c"), "--class", "4"]) == 2
    assert "--class 4 is out of range; this model has classes 0 to 3" in capsys.readouterr().err
    orig = str(FIX / "ada_orig.pkl")
    assert (
        main(["generate", "--model", orig, "--seeds", "0", "--out", str(tmp_path / "d"), "--class", "1"]) == 2
    )
    assert "this model is unconditional" in capsys.readouterr().err


def test_conditional_tf_pickle_is_refused_clearly(tmp_path):
    G = load_nvidia_pickle(FIX / "ada_orig.pkl")
    params = export.to_tf_params(G)
    comps = {
        comp: export._tf_network(
            f"G_{comp}",
            {k.split("/", 1)[1]: v for k, v in params.items() if k.startswith(comp + "/")},
            {},
            {},
        )
        for comp in ("mapping", "synthesis")
    }
    kw = {**export.tf_static_kwargs(G.config), "label_size": 10}
    gs = export._tf_network("G", {"dlatent_avg": params["dlatent_avg"]}, comps, kw)
    buf = io.BytesIO()
    export._Pickler(buf, protocol=3).dump((gs, gs, gs))
    (tmp_path / "tf.pkl").write_bytes(buf.getvalue())
    with pytest.raises(
        CheckpointError, match=r"conditional TensorFlow pickles \(label_size 10\) are not supported"
    ):
        load_nvidia_pickle(tmp_path / "tf.pkl")


def test_convert_verifies_a_conditional_model_over_its_classes(tmp_path, cond, capsys):
    from ganlens.cli.convert import image_difference
    from ganlens.cli.main import main

    pkl = str(FIX / "ada_cond.pkl")
    assert main(["convert", pkl, "--to", "nvidia", "--out", str(tmp_path / "c.pkl")]) == 0
    assert "max |Δ| = 0 " in capsys.readouterr().out
    other = load_nvidia_pickle(FIX / "ada_cond.pkl")
    with torch.no_grad():
        other.mapping_network.embed.weight[:, 1] += 1.0  # class 1 only: seed 1 of the check uses it
    assert image_difference(cond, other)[0] > 1e-3
    assert main(["convert", pkl, "--to", "rosinality", "--out", str(tmp_path / "c.pt")]) == 2
    assert "unconditional generators only; this one has c_dim 4" in capsys.readouterr().err


# ---------------------------------------------------------------------- the D of an ADA pickle
def d_input() -> torch.Tensor:
    """The input ``ada_d_*logits.npy`` were computed on (make_official_arch_fixture.d_input)."""
    return torch.linspace(-1, 1, 8 * 3 * 16 * 16).reshape(8, 3, 16, 16).sin()


def test_ada_discriminator_loads_and_scores_like_ada():
    from ganlens.loaders.nvidia import load_nvidia_discriminator
    from ganlens.training.discriminator import StyleGAN2Discriminator

    D = load_nvidia_discriminator(FIX / "ada_gd.pkl")
    assert isinstance(D, StyleGAN2Discriminator) and D.config.resolution == 16 and D.config.conv_clamp is None
    assert maxdiff(D(d_input()), _npy("ada_d_logits.npy")) <= 2e-5
    Dc = StyleGAN2Discriminator(replace(D.config, conv_clamp=1.0)).eval()
    Dc.load_state_dict(D.state_dict())
    assert maxdiff(Dc(d_input()), _npy("ada_d_clamp1_logits.npy")) <= 2e-5
    assert maxdiff(D(d_input()), Dc(d_input())) > 0.1  # the clamp is active on this input
    assert load_nvidia_discriminator(FIX / "ada_orig.pkl") is None  # that pickle was written with D=None


def test_conditional_ada_discriminator_loads_and_scores_like_ada():
    """ADA's projection D (c_dim 4, 2 label-mapping layers): same logits on hard and soft labels."""
    from ganlens.loaders.nvidia import load_nvidia_discriminator

    D = load_nvidia_discriminator(FIX / "ada_gd_cond.pkl")
    assert (D.config.c_dim, D.config.projection_dim, D.config.mapping_layers) == (4, 32, 2)
    hard = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3]), 4).float()
    labels = torch.cat(
        [hard, torch.linspace(0, 1, 16).reshape(4, 4)]
    )  # make_official_arch_fixture.d_cond_labels
    assert maxdiff(D(d_input(), labels), _npy("ada_d_cond_logits.npy")) <= 2e-5
    assert maxdiff(D(d_input(), labels.roll(1, dims=0)), _npy("ada_d_cond_logits.npy")) > 0.1


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"architecture": "orig"}, "its D has the 'orig' architecture; only ADA's default 'resnet'"),
        (
            {"mapping_kwargs": {"layer_features": 64}},
            r"unsupported discriminator settings \['layer_features'\]",
        ),
        ({"epilogue_kwargs": {"mbstd_group_size": None}}, "cannot rebuild its discriminator"),
        ({"block_kwargs": {"activation": "relu"}}, r"unsupported discriminator settings \['activation'\]"),
    ],
)
def test_unsupported_ada_discriminators_are_one_line_errors(tmp_path, kwargs, needle):
    from ganlens.loaders.nvidia import load_nvidia_discriminator

    G = load_nvidia_pickle(FIX / "ada_orig.pkl")
    D = export._module(
        "Discriminator", {}, {}, {}, {"c_dim": 0, "img_resolution": 32, "img_channels": 3, **kwargs}
    )
    buf = io.BytesIO()
    export._Pickler(buf, protocol=4).dump({"G_ema": export.ada_pickle_tree(G), "D": D})
    (tmp_path / "gd.pkl").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match=needle):
        load_nvidia_discriminator(tmp_path / "gd.pkl")


def test_training_starts_from_an_ada_pickle_and_its_d(tmp_path):
    from ganlens.cli.main import main

    rng = np.random.RandomState(0)
    np.save(tmp_path / "data.npy", rng.randint(0, 256, (8, 16, 16, 3)).astype(np.uint8))
    run = tmp_path / "run"
    args = ["train", "stylegan2", "--data", str(tmp_path / "data.npy"), "--res", "16", "--out", str(run)]
    args += [
        "--kimg",
        "0.004",
        "--batch",
        "4",
        "--init-g",
        str(FIX / "ada_gd.pkl"),
        "--threads",
        "1",
        "--no-progress",
    ]
    assert main(args) == 0
    log = (run / "log.txt").read_text()
    assert "D from the pickle's D (channel base 256, max 32)" in log
