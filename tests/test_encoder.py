"""Encoder: shapes, save/load, training, resume, shipped weights, CLI, bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.inversion.encoder import (
    Encoder,
    EncoderConfig,
    load_encoder,
    shipped_encoders,
    train_encoder,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_dcgan(seed: int = 0) -> DCGANGenerator:
    torch.manual_seed(seed)
    return DCGANGenerator(DCGANConfig(resolution=16, z_dim=16, ngf=8)).eval().requires_grad_(False)


def tiny_encoder(G, **kw) -> Encoder:
    return Encoder(EncoderConfig.for_generator(G, base_channels=8, max_channels=32, **kw))


def tiny_stylegan2():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=32
    )
    torch.manual_seed(0)
    return sg2.StyleGAN2Generator(cfg).eval().requires_grad_(False)


# ------------------------------------------------------------------------------------ architecture
def test_output_shape_projection_generator():
    G = tiny_dcgan()
    E = tiny_encoder(G).eval()
    codes = E(torch.rand(3, 3, 16, 16) * 2 - 1)
    assert codes.shape == (3, *G.code_shape) == (3, 16)
    assert E.config.final_norm == "bn_noscale"  # z ~ N(0, I): IDP's scale-free batch norm
    G.synthesis(codes)  # the codes are usable as they are


def test_output_shape_style_based_generator():
    G = tiny_stylegan2()
    E = tiny_encoder(G).eval()
    codes = E(torch.zeros(2, 3, 16, 16))
    assert codes.shape == (2, G.num_ws, G.w_dim)
    assert E.config.final_norm == "bn"
    assert G.synthesis(codes).shape == (2, 3, 16, 16)


def test_resolution_stages_end_at_4x4():
    for r, blocks in ((8, 1), (16, 2), (64, 4)):
        E = Encoder(EncoderConfig(resolution=r, code_shape=(5,), base_channels=4, max_channels=16))
        assert len(E.blocks) == blocks
        assert E.dense.in_features == 16 * E.config.channels(blocks)
    assert EncoderConfig(resolution=64, code_shape=(5,), base_channels=32, max_channels=64).channels(4) == 64


def test_save_load_roundtrip_is_exact(tmp_path):
    G = tiny_dcgan()
    E = tiny_encoder(G)
    E.train()
    E(torch.randn(4, 3, 16, 16))  # move the batch-norm running stats away from their init
    E.eval()
    E.meta["generator"] = "tiny"
    E.save_pretrained(tmp_path / "enc")
    files = sorted(p.name for p in (tmp_path / "enc").iterdir())
    assert files == ["config.json", "model.safetensors"]
    E2 = Encoder.from_pretrained(tmp_path / "enc")
    assert E2.config == E.config and E2.meta["generator"] == "tiny"
    for k, v in E.state_dict().items():
        assert torch.equal(v, E2.state_dict()[k]), k
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(E(x), E2(x))
    with pytest.raises(GanlensError, match="exists"):
        E.save_pretrained(tmp_path / "enc")
    E3 = load_encoder(tmp_path / "enc")  # a folder path is accepted too
    assert torch.equal(E3(x), E(x))


def test_config_rebuild_and_bad_configs(tmp_path):
    cfg = EncoderConfig(resolution=32, code_shape=(4, 8), base_channels=8, max_channels=16)
    assert EncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(GanlensError, match="resolution 48"):
        EncoderConfig(resolution=48, code_shape=(4,))
    with pytest.raises(GanlensError, match="final_norm 'layer'"):
        EncoderConfig(resolution=16, code_shape=(4,), final_norm="layer")
    with pytest.raises(GanlensError, match="code_shape"):
        EncoderConfig(resolution=16, code_shape=(2, 3, 4))
    with pytest.raises(CheckpointError, match="unknown encoder config fields"):
        EncoderConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_corrupt_and_mismatched_folders(tmp_path):
    G = tiny_dcgan()
    E = tiny_encoder(G)
    E.save_pretrained(tmp_path / "e")
    (tmp_path / "e" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="cannot read encoder weights"):
        Encoder.from_pretrained(tmp_path / "e")
    E.save_pretrained(tmp_path / "f")
    cfg = json.loads((tmp_path / "f" / "config.json").read_text())
    cfg["base_channels"] = 4
    (tmp_path / "f" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        Encoder.from_pretrained(tmp_path / "f")
    with pytest.raises(CheckpointError, match="not an encoder folder"):
        Encoder.from_pretrained(tmp_path)
    E.save_pretrained(tmp_path / "g")
    with pytest.raises(CheckpointError, match="sha256"):
        Encoder.from_pretrained(tmp_path / "g", sha256="0" * 64)


# ------------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 3, 32, 32), "is 32×32; this encoder expects 16×16"),
        ((2, 1, 16, 16), "has 1 channels"),
        ((3, 16, 16), "shape"),
    ],
)
def test_bad_images_give_one_line_errors(shape, match):
    E = tiny_encoder(tiny_dcgan()).eval()
    with pytest.raises(GanlensError, match=match) as e:
        E(torch.zeros(shape))
    assert "\n" not in str(e.value)


def test_unknown_model_id_and_wrong_generator():
    with pytest.raises(GanlensError, match="no encoder is shipped for 'stylegan2-ffhq'") as e:
        load_encoder("stylegan2-ffhq")
    assert "digiface-dcgan64" in str(e.value) and "\n" not in str(e.value)
    E = tiny_encoder(tiny_dcgan())
    other = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8))
    with pytest.raises(GanlensError, match="train an encoder"):
        E.fits(other)
    with pytest.raises(GanlensError, match="train an encoder"):
        train_encoder(other, encoder=E, steps=1, batch_size=2, progress=False)


def test_bad_training_arguments(tmp_path):
    G = tiny_dcgan()
    with pytest.raises(GanlensError, match="batch size 1"):
        train_encoder(G, steps=1, batch_size=1, progress=False)
    with pytest.raises(GanlensError, match="steps -1"):
        train_encoder(G, steps=-1, progress=False)
    with pytest.raises(GanlensError, match="does not exist"):
        train_encoder(G, steps=1, batch_size=2, data_dir=tmp_path / "nope", progress=False)
    with pytest.raises(GanlensError, match="has no images"):
        train_encoder(G, steps=1, batch_size=2, data_dir=tmp_path, progress=False)


# ------------------------------------------------------------------------------------ training
def test_training_reduces_the_loss():
    G = tiny_dcgan()
    E = tiny_encoder(G)
    r = train_encoder(G, encoder=E, steps=25, batch_size=16, lr=3e-3, augment=False, progress=False)
    h = r.history["total"]
    assert r.steps == 25 and len(h) == 25
    assert sum(h[-8:]) / 8 < 0.7 * sum(h[:8]) / 8
    assert not E.training and not any(p.requires_grad for p in E.parameters())


def _write_images(folder, n=4, res=20):
    from PIL import Image

    folder.mkdir()
    g = torch.Generator().manual_seed(1)
    for i in range(n):
        arr = (torch.rand(res, res + 4, 3, generator=g) * 255).byte().numpy()  # not square: centre crop
        Image.fromarray(arr).save(folder / f"im{i}.png")


class _TinyD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 4, 4), torch.nn.LeakyReLU(0.2), torch.nn.Flatten()
        )
        self.fc = torch.nn.Linear(4 * 16, 1)

    def forward(self, x):
        return self.fc(self.net(x))


def test_training_on_real_images_with_discriminator_and_perceptual(tmp_path):
    G = tiny_dcgan()
    _write_images(tmp_path / "real")
    D = _TinyD()
    d0 = [p.clone() for p in D.parameters()]
    calls = []

    def perceptual(a, b):
        calls.append(a.shape)
        return (a - b).abs().mean()

    r = train_encoder(
        G,
        encoder=tiny_encoder(G),
        steps=3,
        batch_size=4,
        data_dir=tmp_path / "real",
        discriminator=D,
        perceptual=perceptual,
        perceptual_weight=0.1,
        progress=False,
    )
    assert len(calls) == 3 and calls[0] == (4, 3, 16, 16)
    assert all(len(r.history[k]) == 3 for k in ("real", "adv", "disc", "perceptual"))
    assert all(v > 0 for v in r.history["disc"])
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))  # D was trained


def _train(G, ckdir, steps, **kw):
    return train_encoder(
        G,
        encoder=tiny_encoder(G),
        steps=steps,
        batch_size=4,
        lr=1e-3,
        checkpoint_dir=ckdir,
        checkpoint_every=2,
        seed=3,
        lr_decay=1.0,  # the decay period depends on the total steps, which differ between the runs
        progress=False,
        **kw,
    )


def test_resume_continues_from_the_checkpoint_with_identical_state(tmp_path):
    G = tiny_dcgan()
    torch.manual_seed(0)
    full = _train(G, tmp_path / "a", 6)
    torch.manual_seed(0)
    part = _train(G, tmp_path / "b", 4)
    assert part.steps == 4
    state = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert state["step"] == 4 and len(state["history"]["total"]) == 4
    assert (tmp_path / "b" / "loss.png").stat().st_size > 1000
    torch.manual_seed(0)
    rest = _train(G, tmp_path / "b", 6)  # a fresh encoder object: everything comes from the checkpoint
    assert rest.resumed_from == 4 and rest.steps == 6
    assert rest.history["total"] == pytest.approx(full.history["total"], abs=0)
    for k, v in full.encoder.state_dict().items():
        assert torch.equal(v, rest.encoder.state_dict()[k]), k
    # resume=False ignores the checkpoint and starts again
    torch.manual_seed(0)
    again = _train(G, tmp_path / "b", 2, resume=False)
    assert again.resumed_from == 0 and again.history["total"] == full.history["total"][:2]


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    G = tiny_dcgan()
    _train(G, tmp_path / "a", 2)
    with pytest.raises(CheckpointError, match="another encoder config"):
        train_encoder(
            G,
            config=EncoderConfig.for_generator(G, base_channels=4, max_channels=8),
            steps=4,
            batch_size=4,
            checkpoint_dir=tmp_path / "a",
            progress=False,
        )


def test_train_encoder_cli(tmp_path, capsys):
    from ganlens.cli.main import main

    G = tiny_dcgan()
    G.save_pretrained(str(tmp_path / "G"))
    args = ["train", "encoder", "--model", str(tmp_path / "G"), "--steps", "2", "--batch-size", "2"]
    args += ["--base-channels", "4", "--max-channels", "8", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    E = load_encoder(tmp_path / "run" / "encoder")
    assert E.meta["generator"] == "G" and E.meta["training"]["steps"] == 2
    assert (tmp_path / "run" / "checkpoints" / "loss.png").is_file()
    assert main([*args, "--out", str(tmp_path / "run")]) == 2  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args[:5], "4", *args[6:], "--out", str(tmp_path / "run"), "--resume"]) == 0
    assert load_encoder(tmp_path / "run" / "encoder").meta["training"]["steps"] == 4
    assert (
        main(["train", "encoder", "--model", "nope-model", "--steps", "1", "--out", str(tmp_path / "x")]) == 2
    )


# ------------------------------------------------------------------------------------ shipped
def _psnr(a, b):
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2 * 255).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(255**2 / mse)).mean().item()


def test_shipped_encoder_beats_a_random_one():
    from ganlens.zoo import get_model_info, load_model

    assert "digiface-dcgan64" in shipped_encoders()
    if not get_model_info("digiface-dcgan64").available:
        pytest.skip("gan-face-generate is not installed")
    G = load_model("digiface-dcgan64")
    E = load_encoder("digiface-dcgan64")
    assert E.config.code_shape == tuple(G.code_shape) and E.config.resolution == 64
    torch.manual_seed(0)
    rand = Encoder(E.config).eval()
    with torch.no_grad():
        x = G.synthesis(G.sample_z(8, seed=20260101))
        good = _psnr(G.synthesis(E(x)), x)
        bad = _psnr(G.synthesis(rand(x)), x)
    assert good > bad + 3.0, (good, bad)
