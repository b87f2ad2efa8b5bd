"""FIR resampling shared by the StyleGAN2 generator and discriminator (ADA's ``upfirdn2d``).

One depthwise convolution per call, in pure PyTorch. Strided filtering (down-sampling) of a
reduced-precision tensor runs in float32 on the CPU: oneDNN's strided depthwise bf16 kernel is
3–16× slower there than the float32 one (``benchmarks/train_throughput.py``), and down-sampling is
a plain low-pass, so the extra precision costs nothing.

:func:`fold_filter` merges the filter into a convolution's weights instead: one (k+3)×(k+3)
convolution in place of a k×k one plus a depthwise pass over a full-size map. That is four times
the multiply-adds of the k×k convolution, so it only pays where memory traffic, not arithmetic,
bounds the step (a GPU); the generator and discriminator take it with ``fold_resample``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def setup_filter(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)) -> Tensor:
    """Separable FIR taps → normalised 2-D filter ``outer(k, k) / sum``, float32 (kh, kw)."""
    k = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(k, k)
    return f / f.sum()


def _depthwise(x: Tensor, k: Tensor, stride: int) -> Tensor:
    """Correlate every channel of ``x`` with the 2-D kernel ``k`` (valid), keeping every ``stride``-th pixel."""
    dtype, c = x.dtype, x.shape[1]
    if stride > 1 and x.device.type == "cpu" and dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", enabled=False):  # autocast would cast the float32 input back
            return _depthwise(x.float(), k, stride).to(dtype)
    return F.conv2d(
        x, k.to(device=x.device, dtype=dtype)[None, None].expand(c, 1, *k.shape), groups=c, stride=stride
    )


def fold_filter(weight: Tensor, f: Tensor, *, gain: float = 1.0) -> Tensor:
    """Full 2-D convolution of every (out, in) kernel of ``weight`` with the filter ``f`` × ``gain``.

    (O, I, kh, kw) → (O, I, kh + fh − 1, kw + fw − 1), differentiable in ``weight``. A transposed
    convolution by the result is the transposed convolution by ``weight`` followed by :func:`upfirdn2d`'s
    filtering with ``f``; ``conv2d`` (a correlation) by ``fold_filter(weight, f.flip([0, 1]))`` is
    ``conv2d`` by ``weight`` after filtering with ``f``. Valid-mode sizes add up, so the paddings do too.
    """
    o, i, kh, kw = weight.shape
    fh, fw = f.shape
    taps = (f * gain).flip([0, 1]).to(device=weight.device, dtype=weight.dtype)[None, None]
    full = F.conv2d(weight.reshape(o * i, 1, kh, kw), taps, padding=(fh - 1, fw - 1))
    return full.reshape(o, i, kh + fh - 1, kw + fw - 1)


def upfirdn2d(
    x: Tensor,
    f: Tensor,
    *,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> Tensor:
    """Upsample (zero insertion), pad (negative = crop), FIR-filter, downsample.

    Args:
        x: (N, C, H, W).
        f: (kh, kw) filter; applied as a true convolution (flipped), scaled by ``gain``.
        up, down: integer factors.
        padding: (x0, x1, y0, y1) with respect to the upsampled image.

    Returns:
        (N, C, (H·up + y0 + y1 − kh) // down + 1, …).
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, (max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)))
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    return _depthwise(x, (f * gain).flip([0, 1]), down)


def upsample2d(x: Tensor, f: Tensor, *, up: int = 2) -> Tensor:
    """×``up`` FIR upsampling with gain ``up²`` (ADA ``upsample2d``; pads (2, 1) for 4 taps)."""
    fh, fw = f.shape
    p = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=p, gain=up * up)


def downsample2d(x: Tensor, f: Tensor, *, pad: int, stride: int) -> Tensor:
    """Pad every side by ``pad``, low-pass with ``f`` and keep every ``stride``-th pixel.

    (N, C, H, W) → (N, C, (H + 2·pad − kh) // stride + 1, …).
    """
    return upfirdn2d(x, f, down=stride, padding=(pad, pad, pad, pad))


def set_fold_resample(module: nn.Module, on: bool) -> int:
    """Switch :func:`fold_filter` on or off in every layer of ``module`` that has the switch (every
    StyleGAN2 synthesis layer and discriminator conv; only those that resample change); returns how many."""
    layers = [m for m in module.modules() if hasattr(m, "fold_resample")]
    for m in layers:
        m.fold_resample = on
    return len(layers)
