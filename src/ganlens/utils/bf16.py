"""Is bfloat16 autocast worth it on this machine? One short timing per device type.

On a CPU with native bf16 instructions (AVX512-BF16, AMX) autocast often runs convolutions about
2.5× faster than float32; on one without them PyTorch emulates bf16 and the same convolution can run
tens of times slower. Listing the instructions is not enough: on session 51's machine (an Intel
family 6 model 207 under a hypervisor, AVX512-BF16 listed, AMX not) bf16 autocast timed 1.4-2.1×
slower than float32. ``--bf16`` options call :func:`warn_if_bf16_slow`, so that a user finds
out in the first second, not after an hour of training.
"""

from __future__ import annotations

import functools
import time
import warnings

import torch
import torch.nn.functional as F

from ganlens.errors import GanlensWarning


def _time_conv(x: torch.Tensor, w: torch.Tensor, bf16: bool, repeats: int) -> float:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call is a warm-up
        t = time.perf_counter()
        with torch.no_grad(), ctx:
            F.conv2d(x, w, padding=1)
        best = min(best, time.perf_counter() - t)
    return best


@functools.cache
def bf16_speedup(device_type: str = "cpu", repeats: int = 5) -> float:
    """float32 time over bf16-autocast time of one 3×3 convolution (8×64×16×16) on this CPU:
    above 1, bf16 is faster. Cached per process; other device types are not timed (returns 1.0)."""
    if device_type != "cpu":
        return 1.0
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 16, 16, generator=gen)
    w = torch.randn(64, 64, 3, 3, generator=gen)
    return _time_conv(x, w, False, repeats) / max(_time_conv(x, w, True, repeats), 1e-9)


def cpu_bf16_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The bf16 instruction flags (``avx512_bf16``, ``amx_bf16``) this CPU lists, or None where
    ``path`` cannot be read (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split()) & {"avx512_bf16", "amx_bf16"}
    except OSError:
        return None
    return frozenset()


def bf16_slow_message(device: torch.device | str, threshold: float = 0.8) -> str | None:
    """The warning for ``--bf16`` on ``device`` when bf16 autocast is slower than float32 there
    (speed-up below ``threshold``); None when bf16 pays or the device is not a CPU."""
    device_type = torch.device(device).type
    speedup = bf16_speedup(device_type)
    if speedup >= threshold:
        return None
    slower = 1 / speedup
    amount = f"{slower:.0f}x" if slower >= 10 else f"{slower:.1f}x"
    flags = cpu_bf16_flags()
    if flags is None:  # not Linux: guess from the size of the slow-down (emulation costs 10x or more)
        why = "it has no native bf16 instructions?" if speedup < 0.5 else "timed while the machine was busy?"
    elif not flags:
        why = "it has no native bf16 instructions"
    else:
        listed = " and ".join(sorted(f.upper().replace("_", "-") for f in flags))
        why = f"it lists {listed}, but its bf16 kernels lose to float32 here, or it was busy"
    return f"--bf16: bfloat16 autocast runs {amount} slower than float32 on this CPU ({why}); leave --bf16 out here"


def warn_if_bf16_slow(device: torch.device | str, *, enabled: bool = True) -> str | None:
    """Issue a :class:`GanlensWarning` when ``enabled`` and bf16 is slower than float32 on
    ``device``; returns the message (or None) so that a caller can log it too."""
    if not enabled:
        return None
    msg = bf16_slow_message(device)
    if msg is not None:
        warnings.warn(msg, GanlensWarning, stacklevel=2)
    return msg
