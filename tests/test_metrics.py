"""PSNR/SSIM against skimage.metrics (SPEC §4.6, §6.11)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from ganlens.errors import GanlensError
from ganlens.inversion.metrics import psnr, ssim

skm = pytest.importorskip("skimage.metrics")


def _pairs():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (40, 48, 3)).astype(np.uint8)
    smooth = gaussian_filter(a.astype(float), sigma=(2, 2, 0)).astype(np.uint8)
    yield "identical", a, a.copy()
    yield "offset", a, np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    yield "blurred", a, smooth
    yield "random", a, rng.randint(0, 256, a.shape).astype(np.uint8)


@pytest.mark.parametrize("name,a,b", list(_pairs()))
def test_ssim_matches_skimage(name, a, b):
    ref = skm.structural_similarity(
        a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert abs(ssim(a, b) - ref) < 1e-4


@pytest.mark.parametrize("name,a,b", list(_pairs()))
def test_psnr_matches_skimage(name, a, b):
    ours = psnr(a, b)
    if name == "identical":
        assert ours == math.inf
        return
    ref = skm.peak_signal_noise_ratio(a, b, data_range=255)
    assert abs(ours - ref) < 1e-4


def test_tensor_inputs_use_saved_uint8_conversion():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = (x + 0.05).clamp(-1, 1)
    from ganlens.utils.io import to_uint8

    ref = [skm.peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(to_uint8(x), to_uint8(y))]
    assert np.allclose(psnr(x, y), ref, atol=1e-6)
    assert len(ssim(x, y)) == 2


def test_metric_errors():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(GanlensError, match="shapes"):
        psnr(a, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(GanlensError, match="uint8"):
        psnr(a.astype(np.float32), a.astype(np.float32))
    with pytest.raises(GanlensError, match="too small"):
        ssim(np.zeros((5, 5, 3), np.uint8), np.zeros((5, 5, 3), np.uint8))
