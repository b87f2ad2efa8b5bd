"""Task degradations (SPEC §4.5, §6.9): gray formula, luminance kept, down shapes, mask convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.errors import GanlensError
from ganlens.inversion.degradations import (
    Colorize,
    Denoise,
    Downsample,
    Identity,
    Inpaint,
    center_mask,
    make_degradation,
    make_mask,
    pixel_mask,
    read_mask_array,
    rgb_to_gray,
    stroke_mask,
)


def _img(n=2, r=16, seed=0):
    return torch.rand(n, 3, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_gray_formula_on_pure_colors():
    x = torch.zeros(3, 3, 4, 4)
    for c in range(3):
        x[c, c] = 1.0
    g = rgb_to_gray(x)[:, 0, 0, 0]
    assert torch.allclose(g, torch.tensor([0.299, 0.587, 0.114]))
    out = Colorize()(x)
    assert out.shape == x.shape and torch.equal(out[:, 0], out[:, 2])


def test_gray_matches_pil_luminance():
    rng = np.random.RandomState(0)
    arr = rng.randint(0, 256, (8, 8, 3)).astype(np.uint8)
    pil_y = np.asarray(Image.fromarray(arr).convert("YCbCr"))[..., 0].astype(np.float64)
    x = torch.from_numpy(arr.transpose(2, 0, 1)).double()[None]
    ours = rgb_to_gray(x)[0, 0].numpy()
    assert np.abs(ours - pil_y).max() <= 1.0  # PIL rounds to integers


def test_colorize_idempotent_and_keeps_input_luminance():
    d = Colorize()
    x = _img()
    assert torch.allclose(d(d(x)), d(x), atol=1e-6)
    recon = _img(seed=1) * 0.3  # stay away from the clamp
    target = _img(seed=2) * 0.3
    out = d.postprocess(recon, d(target))  # the observation is gray
    assert torch.allclose(rgb_to_gray(out), rgb_to_gray(target), atol=1e-5)
    # chroma (differences between channels) comes from the reconstruction
    assert torch.allclose(out[:, 0] - out[:, 1], recon[:, 0] - recon[:, 1], atol=1e-5)


@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_downsample_shapes_and_passthrough(factor, mode):
    d = Downsample(factor, 32, mode=mode)
    x = _img(r=32)
    y = d(x)
    assert y.shape == (2, 3, 32 // factor, 32 // factor)
    assert torch.equal(d(y), y)  # already low resolution: unchanged
    assert d.to_display(y, 32).shape == x.shape
    assert d.initial_image(y, 32).shape == x.shape
    const = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(d(const), torch.full_like(d(const), 0.3), atol=1e-5)


def test_downsample_bilinear_matches_official_interpolate():
    x = _img(r=32)
    ref = torch.nn.functional.interpolate(x, scale_factor=1 / 4, mode="bilinear")
    assert torch.allclose(Downsample(4, 32)(x), ref, atol=1e-6)


def test_downsample_errors():
    with pytest.raises(GanlensError, match="factor 3"):
        Downsample(3, 32)
    with pytest.raises(GanlensError, match="nearest"):
        Downsample(2, 32, mode="nearest")
    with pytest.raises(GanlensError, match="24"):
        Downsample(2, 32)(_img(r=24))


def test_mask_convention_one_is_missing():
    m = torch.zeros(1, 1, 8, 8)
    m[..., :4] = 1  # left half missing
    d = Inpaint(m)
    x = _img(r=8)
    y = d(x)
    assert torch.all(y[..., :4] == 0)
    assert torch.equal(y[..., 4:], x[..., 4:])
    assert torch.equal(d(y), y)
    with pytest.raises(GanlensError, match="px"):
        d(_img(r=16))
    with pytest.raises(GanlensError, match="\\[0, 1\\]"):
        Inpaint(m * 2)


def test_mask_file_white_is_missing(tmp_path):
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., 3] = 255
    arr[2:4, 2:4, :3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "m.png")
    m = read_mask_array(tmp_path / "m.png")
    assert m.shape == (8, 8) and m[2, 2] == 1 and m[0, 0] == 0 and m.sum() == 4


def test_generated_masks():
    c = center_mask(16)
    assert c.shape == (1, 1, 16, 16) and c.sum() == 64 and c[0, 0, 8, 8] == 1 and c[0, 0, 0, 0] == 0
    g = torch.Generator().manual_seed(1)
    p = pixel_mask(64, fraction=0.3, generator=g)
    assert 0.25 < float(p.mean()) < 0.35
    s = stroke_mask(32, generator=torch.Generator().manual_seed(0))
    assert 0 < float(s.mean()) < 0.9 and set(s.unique().tolist()) <= {0.0, 1.0}
    s2 = stroke_mask(32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, s2)  # seeded
    with pytest.raises(GanlensError, match="mask type"):
        make_mask("circle", 16)


def test_denoise_simulate_sigma():
    d = Denoise(25)
    x = torch.zeros(4, 3, 32, 32)
    y = d.simulate(x, generator=torch.Generator().manual_seed(0))
    assert abs(float(y.std()) - 25 / 127.5) < 0.01
    assert torch.equal(d(y), y)
    with pytest.raises(GanlensError, match="sigma"):
        Denoise(-1)


def test_factory():
    assert isinstance(make_degradation("reconstruction", resolution=16), Identity)
    assert isinstance(make_degradation("colorize", resolution=16), Colorize)
    assert make_degradation("super-resolution", resolution=16, factor=2).low_resolution == 8
    with pytest.raises(GanlensError, match="mask"):
        make_degradation("inpainting", resolution=16)
    with pytest.raises(GanlensError, match="task"):
        make_degradation("deblur", resolution=16)


def test_inpaint_paste_keeps_known_pixels():
    m = center_mask(8)
    x, recon = _img(r=8, seed=3), _img(r=8, seed=4)
    out = Inpaint(m).postprocess(recon, Inpaint(m)(x))
    assert torch.equal(out * (1 - m), x * (1 - m))  # known pixels from the input
    assert torch.equal(out * m, recon * m)  # holes from the generator
    assert torch.equal(Inpaint(m, paste=False).postprocess(recon, x), recon)  # official: raw output
