"""``digiface-dcgan64`` is the gan_face_generate package's own DCGAN, weight for weight."""

from __future__ import annotations

import pytest
import torch

from ganlens.zoo import get_model_info, load_model

pytest.importorskip(
    "gan_face_generate",
    reason="gan-face-generate is not installed (pip install --no-deps gan-face-generate==1.1.1)",
)


def test_matches_package_generator():
    from gan_face_generate.models import Generator

    info = get_model_info("digiface-dcgan64")
    path = info.weights_path()
    if path is None:
        pytest.skip("gan_face_generate/weights.tar is missing")
    ref = Generator(ngpu=0, nc=3, nz=100, ngf=64)
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    ref.load_state_dict(ckpt["netG_state_dict"])
    ref.eval()
    G = load_model("digiface-dcgan64")
    z = G.z_from_seeds(list(range(6)))  # (6, 100)
    with torch.no_grad():
        ours = G.synthesis(z)
        theirs = ref(z[:, :, None, None])
    assert ours.shape == theirs.shape == (6, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-5
    assert ours.std() > 0.1  # real faces, not a constant image
