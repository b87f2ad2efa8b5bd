"""Single-code inversion (z, w, w+), losses (pixel, SSIM, LPIPS-VGG16) and photo loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.inversion.degradations import Colorize, Downsample, Inpaint, center_mask
from ganlens.inversion.images import (
    crop_box,
    frame_image,
    list_images,
    load_image,
    parse_offset,
    read_image_array,
)
from ganlens.inversion.losses import LPIPS, ReconstructionLoss, ssim_torch
from ganlens.inversion.optimize import invert

torch.set_num_threads(1)


def tiny_dcgan(seed: int = 0) -> DCGANGenerator:
    torch.manual_seed(seed)
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8))
    return G.eval().requires_grad_(False)


def tiny_stylegan2():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    torch.manual_seed(0)
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16
    )
    return sg2.StyleGAN2Generator(cfg).eval().requires_grad_(False)


# ------------------------------------------------------------------------------ single code
def test_z_inversion_recovers_in_domain_target():
    G = tiny_dcgan()
    z_true = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        x = G.synthesis(z_true)
    g = torch.Generator().manual_seed(0)
    res = invert(G, x, space="z", steps=150, lr=0.05, restarts=2, generator=g, progress=False)
    assert res.codes.shape == (3, 8) and res.images.shape == x.shape and res.method == "z"
    assert res.losses[-1] < 0.2 * res.losses[0]
    err = float((res.images - x).pow(2).mean())
    assert err < 0.01, err
    assert torch.allclose(res.final_losses, (res.images - x).pow(2).mean(dim=(1, 2, 3)), atol=1e-5)


def test_seeded_and_batch_independent():
    G = tiny_dcgan()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    a = invert(G, x, steps=5, generator=torch.Generator().manual_seed(1), progress=False)
    b = invert(G, x, steps=5, generator=torch.Generator().manual_seed(1), progress=False)
    assert torch.equal(a.codes, b.codes)
    # each image is optimised independently of the others in its batch (same deterministic start)
    both = invert(G, x, steps=5, init="zero", progress=False)
    single = invert(G, x[:1], steps=5, init="zero", progress=False)
    assert torch.allclose(single.extra["latents"], both.extra["latents"][:1], atol=1e-5)


def test_restarts_keep_the_best():
    G = tiny_dcgan()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    one = [
        invert(G, x, steps=10, generator=torch.Generator().manual_seed(s), progress=False) for s in range(3)
    ]
    many = invert(G, x, steps=10, restarts=3, generator=torch.Generator().manual_seed(0), progress=False)
    assert many.final_losses.shape == (4,)
    # the first restart of "many" is exactly the run with seed 0's first 4 z; the best can only be lower
    assert torch.all(many.final_losses <= one[0].final_losses + 1e-6)


def test_degradation_inside_loss_colorize_and_sr():
    G = tiny_dcgan()
    with torch.no_grad():
        x = G.synthesis(torch.randn(2, 8, generator=torch.Generator().manual_seed(3)))
    col = invert(
        G,
        Colorize()(x),
        degradation=Colorize(),
        steps=30,
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    from ganlens.inversion.degradations import rgb_to_gray

    assert torch.allclose(rgb_to_gray(col.images), rgb_to_gray(x), atol=0.02)  # luminance of the input
    sr = Downsample(4, 16)
    res = invert(
        G, sr(x), degradation=sr, steps=30, progress=False, generator=torch.Generator().manual_seed(0)
    )
    assert res.images.shape == (2, 3, 16, 16)
    m = Inpaint(center_mask(16))
    res = invert(G, x, degradation=m, steps=5, restarts=2, progress=False)
    assert res.images.shape == x.shape


def test_w_and_wplus_on_stylegan2():
    G = tiny_stylegan2()
    with torch.no_grad():
        x = G(torch.randn(2, 16, generator=torch.Generator().manual_seed(2)))
    for space in ("w", "w+", "z"):
        res = invert(
            G, x, space=space, steps=40, lr=0.05, generator=torch.Generator().manual_seed(0), progress=False
        )
        assert res.codes.shape == (2, G.num_ws, G.w_dim)
        assert res.losses[-1] < res.losses[0]
        if space == "w":  # one w broadcast to all rows
            assert torch.equal(res.codes[:, 0], res.codes[:, -1])
    res = invert(G, x, space="w", init="mean", steps=0, progress=False)
    assert torch.allclose(res.codes[0, 0], G.w_avg, atol=1e-6)


def test_bad_inputs():
    G = tiny_dcgan()
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(GanlensError, match="latent space 'w'"):
        invert(G, x, space="w", steps=1, progress=False)
    with pytest.raises(GanlensError, match="target has shape"):
        invert(G, torch.rand(3, 16, 16), steps=1, progress=False)
    with pytest.raises(GanlensError, match="32 px"):
        invert(G, torch.rand(1, 3, 32, 32), steps=1, progress=False)
    with pytest.raises(GanlensError, match="optimizer"):
        invert(G, x, optimizer="lbfgs", steps=1, progress=False)
    with pytest.raises(GanlensError, match="learning rate"):
        invert(G, x, lr=-1, steps=1, progress=False)


# ------------------------------------------------------------------------------ losses
def test_reconstruction_loss_terms():
    a = torch.rand(2, 3, 16, 16) * 2 - 1
    b = a.clone()
    b[1] += 0.1
    loss = ReconstructionLoss(mse=1.0, l1=0.5, ssim=0.2)
    per = loss.per_sample(a, b)
    assert per[0].abs() < 1e-6 and per[1] > 0
    assert torch.isclose(loss(a, b), per.mean())
    assert torch.allclose(ssim_torch(a, a), torch.ones(2), atol=1e-5)
    with pytest.raises(GanlensError, match="perceptual model"):
        ReconstructionLoss(perceptual=1.0)
    with pytest.raises(GanlensError, match="all loss weights"):
        ReconstructionLoss(mse=0.0)
    with pytest.raises(GanlensError, match="l1"):
        ReconstructionLoss(l1=-1)


def test_ssim_torch_matches_numpy_metric_on_valid_region():
    from ganlens.inversion.metrics import ssim_uint8

    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.randint(-30, 30, a.shape), 0, 255).astype(np.uint8)
    ta = torch.from_numpy(a.transpose(2, 0, 1)).double()[None]
    tb = torch.from_numpy(b.transpose(2, 0, 1)).double()[None]
    ours = float(ssim_torch(ta, tb, data_range=255.0))
    # same window and constants; numpy uses reflect padding then crops 5 px, torch uses the valid region
    assert abs(ours - ssim_uint8(a, b)) < 1e-6


def test_discriminator_feature_loss():
    conv = torch.nn.Conv2d(3, 4, 3)

    def disc(x):
        return [conv(x), conv(x).mean(dim=(2, 3))]

    loss = ReconstructionLoss(mse=0.0, disc_features=1.0, discriminator=disc)
    a = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert float(loss(a, a)) == 0.0
        assert float(loss(a, a + 0.1)) > 0


def _random_lpips_state(layout: str) -> dict:
    torch.manual_seed(0)
    m = LPIPS()
    sd = {}
    for k, v in m.state_dict().items():
        if k in ("shift", "scale"):
            continue
        v = torch.randn_like(v) * 0.05
        if k.startswith("lins."):
            v = v.abs()
        if layout == "lpips":
            if k.startswith("vgg.features."):
                idx = int(k.split(".")[2])
                s = 1 if idx < 4 else 2 if idx < 9 else 3 if idx < 16 else 4 if idx < 23 else 5
                k = f"net.slice{s}.{idx}.{k.split('.')[-1]}"
            else:
                k = f"lin{k.split('.')[1]}.model.1.weight"
        elif k.startswith("lins."):
            k = f"lin{k.split('.')[1]}.weight"
        else:
            k = k.replace("vgg.features.", "features.")
        sd[k] = v
    return sd


@pytest.mark.parametrize("layout", ["lpips", "torchvision"])
def test_lpips_loads_both_layouts(tmp_path, layout):
    sd = _random_lpips_state(layout)
    torch.save(sd, tmp_path / "w.pth")
    m = LPIPS.from_file(tmp_path / "w.pth")
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    d = m(a, a.flip(0))
    assert d.shape == (2,) and torch.all(d > 0) and torch.allclose(m(a, a), torch.zeros(2))
    # the heads were loaded: the distance is the weighted sum of the normalised differences
    first = next(v for k, v in sd.items() if k.startswith("lin0"))
    assert torch.equal(m.lins[0].weight, first)


def test_lpips_reference_computation(tmp_path):
    """Recompute LPIPS by hand (lpips package formula) from the saved weights."""
    sd = _random_lpips_state("torchvision")
    torch.save(sd, tmp_path / "w.pth")
    m = LPIPS.from_file(tmp_path / "w.pth")
    a, b = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    xa, xb = (a - shift) / scale, (b - shift) / scale
    total = 0.0
    k = 0
    convs = sorted({int(key.split(".")[1]) for key in sd if key.startswith("features.")})
    for i in range(30):
        if i in convs:
            w, bias = sd[f"features.{i}.weight"], sd[f"features.{i}.bias"]
            xa = torch.nn.functional.conv2d(xa, w, bias, padding=1)
            xb = torch.nn.functional.conv2d(xb, w, bias, padding=1)
        elif i in (4, 9, 16, 23):
            xa, xb = torch.nn.functional.max_pool2d(xa, 2), torch.nn.functional.max_pool2d(xb, 2)
        else:
            xa, xb = xa.relu(), xb.relu()
        if i in (3, 8, 15, 22, 29):
            na = xa / (xa.norm(dim=1, keepdim=True) + 1e-10)
            nb = xb / (xb.norm(dim=1, keepdim=True) + 1e-10)
            total += float(((na - nb) ** 2 * sd[f"lin{k}.weight"].view(1, -1, 1, 1)).sum(1).mean())
            k += 1
    assert abs(float(m(a, b)) - total) < 1e-5


def test_lpips_bad_files(tmp_path):
    with pytest.raises(GanlensError, match="does not exist"):
        LPIPS.from_file(tmp_path / "nope.pth")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        LPIPS.from_file(tmp_path / "bad.pth")
    sd = _random_lpips_state("torchvision")
    del sd["lin4.weight"]
    torch.save(sd, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing"):
        LPIPS.from_file(tmp_path / "missing.pth")


def test_perceptual_term_in_inversion(tmp_path):
    torch.save(_random_lpips_state("torchvision"), tmp_path / "w.pth")
    loss = ReconstructionLoss(mse=1.0, perceptual=0.1, perceptual_model=LPIPS.from_file(tmp_path / "w.pth"))
    G = tiny_dcgan()
    res = invert(G, torch.rand(1, 3, 16, 16) * 2 - 1, loss=loss, steps=3, progress=False)
    assert len(res.losses) == 3


# ------------------------------------------------------------------------------ photos
def test_read_any_image_mode(tmp_path):
    rgb = (np.random.RandomState(0).rand(20, 30, 3) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    rgba = np.dstack([rgb, np.zeros((20, 30), np.uint8)])  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.fromarray(rgb).save(tmp_path / "j.jpg")
    assert np.allclose(read_image_array(tmp_path / "rgb.png"), rgb / 255, atol=1e-6)
    assert np.allclose(read_image_array(tmp_path / "rgba.png"), 1.0)  # composited on white
    assert np.allclose(read_image_array(tmp_path / "rgba.png", rgba="black"), 0.0)
    g = read_image_array(tmp_path / "gray.png")
    assert g.shape == (20, 30, 3) and np.array_equal(g[..., 0], g[..., 2])
    assert read_image_array(tmp_path / "pal.png").shape == (20, 30, 3)
    assert np.allclose(read_image_array(tmp_path / "g16.png")[..., 0], rgb[..., 0] / 255, atol=1e-6)
    assert read_image_array(tmp_path / "j.jpg").shape == (20, 30, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(GanlensError, match="cannot read image"):
        read_image_array(tmp_path / "broken.png")


def test_framing():
    assert crop_box(100, 200, crop=1.0) == (0, 50, 100)
    assert crop_box(100, 200, crop=0.5) == (25, 75, 50)
    assert crop_box(100, 200, crop=0.5, offset=(0.1, 0.0)) == (25, 95, 50)
    assert crop_box(100, 100, crop=0.5, offset=(0.5, 0.5)) == (50, 50, 50)  # pushed back inside
    arr = np.zeros((40, 80, 3), np.float32)
    arr[:, 20:60] = 1.0  # the central square is white
    t = frame_image(arr, 16, crop=1.0)
    assert t.shape == (3, 16, 16) and torch.allclose(t, torch.ones_like(t))
    with pytest.raises(GanlensError, match="crop"):
        crop_box(10, 10, crop=0)
    with pytest.raises(GanlensError, match="offset"):
        parse_offset("0.1")
    with pytest.raises(GanlensError, match="offset"):
        parse_offset("0.9,0")
    assert parse_offset("0,0.05") == (0.0, 0.05)


def test_list_images_errors(tmp_path):
    with pytest.raises(GanlensError, match="no images"):
        list_images(tmp_path)
    with pytest.raises(GanlensError, match="does not exist"):
        list_images(tmp_path / "nope")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", 16).shape == (3, 16, 16)
