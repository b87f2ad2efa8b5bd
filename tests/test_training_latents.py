"""Permuting a StyleGAN's z inputs (``ganlens train stylegan2-permute-z``): the same images for
permuted latents, none of the first layer's rows left on a torch stream, Adam's moments permuted
alike; and the trainer no longer starts that layer on the stream it samples. Tiny 16-px models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ganlens.cli.main import main as cli_main
from ganlens.errors import GanlensError
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ganlens.training.config import TrainConfig
from ganlens.training.export import export_generator
from ganlens.training.latents import (
    fc0_weight_index,
    fold_w_affine,
    latent_permutation,
    permute_latents,
    stream_rows,
)
from ganlens.training.stylegan2 import StyleGAN2Trainer, train_stylegan2

TINY = dict(resolution=16, z_dim=32, w_dim=32, map_layers=2, channel_base=256, channel_max=32, progress=False)
G_CONFIG = StyleGAN2Config(
    resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32
)

pytestmark = pytest.mark.usefixtures("one_thread")


def seeded_like_before(seed: int = 0) -> StyleGAN2Generator:
    """A G initialised right after ``torch.manual_seed(seed)``, as the trainer did until session 48."""
    torch.manual_seed(seed)
    return StyleGAN2Generator(G_CONFIG).eval()


def images(G, z):
    with torch.no_grad():
        return G.synthesis(G.mapping(z), noise_mode="const")


def test_a_g_seeded_like_before_holds_its_streams_first_latents_and_the_permutation_removes_them():
    G = seeded_like_before(0)
    assert stream_rows(G) == {0: G.mapping_network.fc0.weight.shape[0]}
    z0 = torch.randn(32, 32, generator=torch.Generator().manual_seed(0))  # fc0's rows, as drawn
    with torch.no_grad():
        far = (G.mapping(z0)[:, 0] - G.mapping(torch.randn(64, 32))[:, 0].mean(0)).norm(dim=1)
    before = G.mapping_network.fc0.weight.clone()
    r = permute_latents(G, seed=3)
    assert r.matched_before == {0: 32} and r.matched_after == {}
    assert torch.equal(G.mapping_network.fc0.weight, before)  # the input model is left alone
    q = r.permutation
    assert sorted(q.tolist()) == list(range(32)) and not bool((q == torch.arange(32)).any())
    assert torch.equal(q, latent_permutation(32, 3))
    # G'(z) = G(Pz): the same images for the permuted latents, so the same distribution
    z = torch.randn(6, 32, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(images(r.G, z), images(G, z[:, torch.argsort(q)]), atol=1e-5)
    assert not torch.allclose(images(r.G, z), images(G, z), atol=1e-3)
    with torch.no_grad():
        near = (r.G.mapping(z0)[:, 0] - r.G.mapping(torch.randn(64, 32))[:, 0].mean(0)).norm(dim=1)
    assert float(far.mean()) > 1.5 * float(near.mean())


def test_a_stylegan_v1_is_permuted_the_same_way():
    from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator

    torch.manual_seed(0)
    G = StyleGANGenerator(
        StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_fmaps=16, fmaps_base=128, fmaps_max=16)
    ).eval()
    assert stream_rows(G) == {0: 16}
    r = permute_latents(G, seed=2)
    assert r.matched_after == {}
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(8))
    assert torch.allclose(images(r.G, z), images(G, z[:, torch.argsort(r.permutation)]), atol=1e-5)


def test_the_trainer_no_longer_starts_the_mapping_on_a_sampled_stream(tmp_path):
    np.save(tmp_path / "d.npy", np.random.RandomState(0).randint(0, 256, (8, 16, 16, 3)).astype(np.uint8))
    for seed in (0, 3):
        t = StyleGAN2Trainer(
            TrainConfig(
                data=str(tmp_path / "d.npy"), out=str(tmp_path / f"r{seed}"), batch=4, seed=seed, **TINY
            )
        )
        assert stream_rows(t.G, range(10)) == {}
    assert stream_rows(seeded_like_before(3), range(10)) == {3: 32}  # what the old init did


def test_cli_permutes_an_export_and_its_adam_moments(tmp_path, capsys):
    data = tmp_path / "d.npy"
    np.save(data, np.random.RandomState(0).randint(0, 256, (8, 16, 16, 3)).astype(np.uint8))
    cfg = TrainConfig(
        data=str(data), out=str(tmp_path / "run"), kimg=0.008, batch=4, snapshot_kimg=0.004, **TINY
    )
    train_stylegan2(cfg)
    src, out = tmp_path / "export", tmp_path / "pz"
    export_generator(tmp_path / "run", src, with_discriminator=True, with_adam=True)
    assert cli_main(["train", "stylegan2-permute-z", str(src), "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "permuted the z inputs" in printed and "before: none; after: none" in printed
    q = latent_permutation(32, 4)
    from ganlens.generators.native import load_generator

    A, B = load_generator(src).eval(), load_generator(out).eval()
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(images(B, z), images(A, z[:, torch.argsort(q)]), atol=1e-5)
    assert (out / "discriminator" / "model.safetensors").read_bytes() == (
        src / "discriminator" / "model.safetensors"
    ).read_bytes()
    key = f"{fc0_weight_index(A)}.exp_avg_sq"
    codes = {}
    for p in (src, out):
        with safe_open(str(p / "adam" / "opt_G.safetensors"), framework="pt") as f:
            codes[p] = (f.get_tensor(key), f.metadata())
    assert torch.equal(codes[out][0], codes[src][0][:, q]) and codes[out][1] == codes[src][1]
    # one-line refusals, exit 2
    assert cli_main(["train", "stylegan2-permute-z", str(src), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli_main(["train", "stylegan2-permute-z", str(src), "--out", str(src), "--overwrite"]) == 2
    assert "own folder" in capsys.readouterr().err
    assert cli_main(["train", "stylegan2-permute-z", "digiface-dcgan64", "--out", str(tmp_path / "x")]) == 2
    assert "no mapping network" in capsys.readouterr().err


def test_permute_refuses_a_generator_without_a_mapping_network():
    from ganlens.zoo import load_model

    with pytest.raises(GanlensError, match="no mapping network that normalises z"):
        permute_latents(load_model("digiface-dcgan64"))


def test_an_affine_map_of_w_folds_exactly_into_the_style_affines():
    torch.manual_seed(2)
    G = StyleGAN2Generator(G_CONFIG).eval().requires_grad_(False)
    L, c = 0.3 * torch.randn(32, 32), 0.5 * torch.randn(32)
    folded = fold_w_affine(G, L, c)
    ws = G.mapping(torch.randn(5, 32))
    with torch.no_grad():
        want = G.synthesis(ws + (ws - G.w_avg) @ L.T + c, noise_mode="const")
        got = folded.synthesis(ws, noise_mode="const")
        assert torch.allclose(got, want, atol=1e-4)
        assert not torch.allclose(got, G.synthesis(ws, noise_mode="const"), atol=1e-2)
        # the mapping and w_avg stay; the identity map changes nothing; G itself is left alone
        assert torch.equal(folded.mapping(torch.ones(1, 32)), G.mapping(torch.ones(1, 32)))
        same = fold_w_affine(G, torch.zeros(32, 32), torch.zeros(32)).synthesis(ws, noise_mode="const")
        assert torch.allclose(same, G.synthesis(ws, noise_mode="const"), atol=1e-6)
    with pytest.raises(GanlensError, match=r"L \(32, 31\) and c \(32,\) must be \(32, 32\) and \(32,\)"):
        fold_w_affine(G, torch.zeros(32, 31), torch.zeros(32))
