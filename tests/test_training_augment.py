"""ADA-style augmentation (ganlens.training.augment): identity at p = 0, what each stage may and
may not do to an image, coordinate conventions, gradients, and the adaptive-p controller."""

from __future__ import annotations

import pytest
import torch

from ganlens.cli.main import main as cli_main
from ganlens.errors import GanlensError
from ganlens.training.augment import (
    PIPELINES,
    AdaptiveP,
    _resample,
    _rotate_about_luma,
    _translate2d,
    augment,
)
from ganlens.training.config import TrainConfig


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(8, 3, 16, 16, generator=gen(1)) * 2 - 1


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_p_zero_is_the_identity(images, pipeline):
    assert torch.equal(augment(images, 0.0, pipeline=pipeline, generator=gen()), images)


def test_blit_only_moves_pixels(images):
    out = augment(images, 1.0, pipeline="blit", generator=gen())
    for a, b in zip(out, images):
        assert torch.isin(a, b).all()  # every output value is one of the input's values
    assert sum(not torch.equal(a, b) for a, b in zip(out, images)) >= 6  # and most images moved


@pytest.mark.parametrize("pipeline", ["blit", "geom", "bg"])
def test_geometry_keeps_a_flat_image_flat(pipeline):
    flat = torch.full((6, 3, 16, 16), 0.3)
    out = augment(flat, 1.0, pipeline=pipeline, generator=gen())
    assert (out - 0.3).abs().max() < 1e-6  # reflection padding: no dark borders


def test_integer_translation_convention(images):
    # the matrices map output to input coordinates: translating by -2/W reads the pixel to the left
    inv = _translate2d(torch.full((8,), -2 / 16), torch.zeros(8))
    out = _resample(images, inv, mode="nearest", supersample=False)
    assert torch.equal(out[..., 1:], images[..., :-1])


def test_color_keeps_gray_gray_and_changes_it():
    gray = (torch.rand(8, 1, 8, 8, generator=gen(2)) * 2 - 1).expand(8, 3, 8, 8)
    out = augment(gray, 1.0, pipeline="color", generator=gen())
    assert (out[:, 0] - out[:, 1]).abs().max() < 1e-5 and (out[:, 1] - out[:, 2]).abs().max() < 1e-5
    assert (out - gray).abs().mean() > 0.1
    r = _rotate_about_luma(torch.tensor([0.7, -2.0]))[:, :3, :3]
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)  # a rotation
    assert torch.allclose(r @ torch.ones(3), torch.ones(2, 3), atol=1e-6)  # about the gray axis


def test_seeded_and_differentiable(images):
    a = augment(images, 0.6, pipeline="bgc", generator=gen(5))
    assert torch.equal(a, augment(images, 0.6, pipeline="bgc", generator=gen(5)))
    assert not torch.equal(a, augment(images, 0.6, pipeline="bgc", generator=gen(6)))
    x = images.clone().requires_grad_(True)
    augment(x, 0.6, pipeline="bgc", generator=gen()).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_arguments(images):
    with pytest.raises(GanlensError, match="pipeline 'xyz' is unknown; allowed: blit, geom"):
        augment(images, 0.5, pipeline="xyz", generator=gen())
    with pytest.raises(GanlensError, match="probability 1.5 must be in"):
        augment(images, 1.5, generator=gen())
    with pytest.raises(GanlensError, match="aug 'adaptive' is not allowed; use none, ada, fixed"):
        TrainConfig(data="d", out="o", aug="adaptive")
    with pytest.raises(GanlensError, match="aug_p -0.1 must be in"):
        TrainConfig(data="d", out="o", aug="fixed", aug_p=-0.1)


def test_controller_moves_p_towards_the_target():
    c = AdaptiveP(0.0, target=0.6, ada_kimg=1.0, interval=4)  # 16 · 4 / 1000 = 0.064 per adjustment
    c.accumulate(torch.tensor([3.0, 1.0, -1.0, 2.0]))  # r_t = 0.5: below target, p stays at its floor 0
    c.adjust(16)
    assert c.p == 0.0 and c.last_rt == 0.5
    for _ in range(3):  # D sure of every real: overfitting, p rises
        c.accumulate(torch.ones(8))
        c.adjust(16)
    assert c.p == pytest.approx(3 * 0.064)
    c.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0]))  # exactly 0.4 < 0.6
    c.adjust(16)
    assert c.p == pytest.approx(2 * 0.064)
    c.adjust(16)  # nothing gathered: no move
    assert c.p == pytest.approx(2 * 0.064)
    d = AdaptiveP()
    d.load_state_dict(c.state_dict())
    assert d.state_dict() == c.state_dict()


def test_cli_rejects_bad_aug_p(tmp_path, capsys):
    code = cli_main(
        [
            "train",
            "stylegan2",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
            "--aug",
            "fixed",
            "--aug-p",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "aug_p 2.0 must be in [0, 1]" in err and "Traceback" not in err


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_matches_torch_to_second_order(mode):
    """R1 differentiates through the augmentation twice; our grid_sample gives torch's values and
    gradients of gradients (torch itself has none on CUDA)."""
    from ganlens.training.augment import grid_sample_twice_differentiable

    torch.manual_seed(0)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64, requires_grad=True)
    theta = torch.eye(2, 3, dtype=torch.float64).repeat(3, 1, 1) + 0.2 * torch.randn(
        3, 2, 3, dtype=torch.float64
    )
    grid = torch.nn.functional.affine_grid(theta, (3, 2, 16, 16), align_corners=False)

    def ours(t):
        return grid_sample_twice_differentiable(t, grid, mode=mode)

    def theirs(t):
        return torch.nn.functional.grid_sample(
            t, grid, mode=mode, padding_mode="reflection", align_corners=False
        )

    assert torch.allclose(ours(x), theirs(x))
    second = []
    for f in (ours, theirs):
        (g,) = torch.autograd.grad(f(x).sin().sum(), x, create_graph=True)
        second.append(torch.autograd.grad(g.square().sum(), x)[0])
    assert torch.allclose(*second) and second[0].abs().sum() > 0
    assert torch.autograd.gradgradcheck(ours, (x,))
