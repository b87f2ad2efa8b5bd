"""The DigiFace-1M DCGAN shipped by the ``gan_face_generate`` PyPI package (MIT).

Its ``weights.tar`` is a ``torch.save`` dict ``{"netG_state_dict": ...}`` written from CUDA, for the
PyTorch-tutorial DCGAN (nz=100, ngf=64, 64×64). We read it with ``weights_only=True`` mapped to the
CPU and rename ``main.{i}`` keys onto :class:`~ganlens.generators.dcgan.DCGANGenerator`.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ganlens.errors import CheckpointError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.generators.native import load_state_dict_strict

DIGIFACE_CONFIG = DCGANConfig(
    resolution=64, z_dim=100, ngf=64, first_layer="convtranspose", norm="batch", bias=False
)


def _rename(key: str) -> str:
    """Map tutorial ``main.{i}.*`` keys to ours (convs at 0,3,6,9,12; BN at 1,4,7,10)."""
    m = re.fullmatch(r"main\.(\d+)\.(.+)", key)
    if not m:
        raise CheckpointError(f"unexpected key {key!r} in the DigiFace checkpoint")
    i, rest = int(m.group(1)), m.group(2)
    block, kind = divmod(i, 3)
    if kind == 0:
        if block == 0:
            return f"first.{rest}"
        if block == 4:
            return f"to_rgb.{rest}"
        return f"ups.{block - 1}.{rest}"
    if kind == 1:
        return f"norms.{block}.{rest}"
    raise CheckpointError(f"unexpected key {key!r} in the DigiFace checkpoint")


def load_digiface_dcgan(path: str | Path) -> DCGANGenerator:
    """Load ``gan_face_generate/weights.tar`` into a DCGAN, on the CPU, in eval mode."""
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt zips/pickles
        raise CheckpointError(
            f"cannot read DigiFace checkpoint {str(path)!r}: {type(e).__name__}: {e}"
        ) from None
    if not isinstance(ckpt, dict) or "netG_state_dict" not in ckpt:
        raise CheckpointError(f"{str(path)!r} is not a gan_face_generate checkpoint (no 'netG_state_dict')")
    state = {
        _rename(k): v.float() if v.is_floating_point() else v for k, v in ckpt["netG_state_dict"].items()
    }
    G = DCGANGenerator(DIGIFACE_CONFIG)
    load_state_dict_strict(G, state, source=str(path))
    return G.eval().requires_grad_(False)
