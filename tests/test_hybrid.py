"""Hybrid (encoder + domain-regularised) inversion, SPEC §4.4 / §6.8."""

from __future__ import annotations

import pytest
import torch

from ganlens.errors import GanlensError
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator
from ganlens.inversion.degradations import Colorize, Downsample, Inpaint, center_mask
from ganlens.inversion.encoder import Encoder, EncoderConfig
from ganlens.inversion.hybrid import domain_loss, encoder_invert, hybrid_diffuse, hybrid_invert
from ganlens.inversion.losses import ReconstructionLoss

pytestmark = pytest.mark.usefixtures("one_thread")


def lively_dcgan(seed: int = 0) -> DCGANGenerator:
    """A tiny random DCGAN whose batch-norm statistics are calibrated, so its images have contrast."""
    torch.manual_seed(seed)
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=16, ngf=8))
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one batch gives its exact statistics
            m.reset_running_stats()
    with torch.no_grad():
        G.train()(torch.randn(256, 16))
    return G.eval().requires_grad_(False)


def make_pair(seed: int = 0, final_norm: str = "auto"):
    """A lively tiny DCGAN and an encoder briefly trained for it (so it responds to its input)."""
    from ganlens.inversion.encoder import train_encoder

    G = lively_dcgan(seed)
    torch.manual_seed(seed)
    E = Encoder(EncoderConfig.for_generator(G, base_channels=8, max_channels=32, final_norm=final_norm))
    train_encoder(G, encoder=E, steps=30, batch_size=16, lr=3e-3, augment=False, seed=seed, progress=False)
    return G, E


def targets(G, n=2, seed=5):
    with torch.no_grad():
        return G.synthesis(G.sample_z(n, seed=seed) * 1.2)


def idp_reference(G, E, x, *, steps, lr=0.01, pix=1.0, reg=2.0):
    """IDP ``inverter.py invert()`` written out for one image: Adam on w+ = E(x),
    loss = pix·mean((x − G(z))²) + reg·mean((z − E(G(z)))²), logged before each step."""
    z = E(x).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    out = []
    for _ in range(steps):
        x_rec = G.synthesis(z)
        loss = pix * torch.mean((x - x_rec) ** 2)
        z_rec = E(x_rec).view(1, *G.code_shape)
        loss = loss + reg * torch.mean((z - z_rec) ** 2)
        out.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return out, z.detach()


def test_matches_the_idp_loop_and_is_deterministic():
    G, E = make_pair()
    x = targets(G, n=1)
    ref, z_ref = idp_reference(G, E, x, steps=10)
    a = hybrid_invert(G, E, x, steps=10, progress=False)
    b = hybrid_invert(G, E, x, steps=10, progress=False)
    assert a.losses == b.losses  # bit-identical trajectory
    assert torch.equal(a.codes, b.codes)
    assert a.losses == pytest.approx(ref, abs=1e-5)
    assert torch.allclose(a.codes, z_ref, atol=1e-5)
    assert a.method == "hybrid" and len(a.losses) == 10
    assert a.losses[-1] < a.losses[0]


def test_batch_is_optimised_as_independent_images():
    G, E = make_pair()
    x = targets(G, n=3)
    both = hybrid_invert(G, E, x, steps=5, progress=False)
    one = hybrid_invert(G, E, x[1:2], steps=5, progress=False)
    assert torch.allclose(both.codes[1:2], one.codes, atol=1e-5)


def test_domain_term_is_zero_at_a_fixed_point_of_e_and_g():
    G, E = make_pair(final_norm="none")
    with torch.no_grad():  # E(x) = b for every x, so c = b satisfies c == E(G(c))
        E.dense.weight.zero_()
        E.out_bias.copy_(torch.randn(16))
    x = targets(G)
    b = E.out_bias.detach()
    assert torch.equal(domain_loss(E, G, b.expand(2, -1).clone()), torch.zeros(2))
    r = hybrid_invert(G, E, x, steps=3, progress=False)
    assert r.extra["domain"][0] == 0.0
    assert r.losses[0] == pytest.approx(r.extra["reconstruction"][0], abs=0)
    assert r.extra["domain"][1] > 0  # moving the code away from b is penalised


def test_domain_term_changes_the_result_and_gradients_pass_through_the_encoder():
    G, E = make_pair()
    x = targets(G)
    before = {k: v.clone() for k, v in E.state_dict().items()}
    with_dom = hybrid_invert(G, E, x, steps=5, progress=False)
    without = hybrid_invert(G, E, x, steps=5, domain_weight=0.0, progress=False)
    assert without.extra["domain"] == [0.0] * 5
    assert not torch.allclose(with_dom.codes, without.codes)
    # d/dc mean((c − E(G(c)))²) = direct term + the path through G and the encoder
    c = with_dom.codes.clone().requires_grad_(True)
    domain_loss(E, G, c).sum().backward()
    n = c[0].numel()
    c2 = with_dom.codes.clone().requires_grad_(True)
    rec = E(G.synthesis(c2))
    direct = 2 * (c2 - rec).detach() / n
    (through,) = torch.autograd.grad(rec, c2, grad_outputs=-direct)
    assert torch.allclose(c.grad, direct + through, atol=1e-7)
    assert through.norm() > 0.05 * direct.norm()
    # the encoder is untouched, still frozen, still in eval mode
    assert all(torch.equal(v, E.state_dict()[k]) for k, v in before.items())
    assert not E.training and not any(p.requires_grad for p in E.parameters())


def test_hybrid_lowers_its_objective_and_improves_on_the_encoder_alone():
    G, E = make_pair()
    x = targets(G)
    enc = encoder_invert(G, E, x)
    assert enc.method == "encoder" and enc.codes.shape == (2, 16)
    hyb = hybrid_invert(G, E, x, steps=30, lr=0.05, progress=False)
    assert torch.allclose(hyb.extra["init_codes"], enc.codes)
    assert hyb.final_losses.mean() < 0.7 * hyb.losses[0]  # the regularised objective goes down
    free = hybrid_invert(G, E, x, steps=30, lr=0.05, domain_weight=0.0, progress=False)
    mse = lambda r: (r.images - x).pow(2).mean().item()  # noqa: E731
    assert mse(free) < 0.7 * mse(enc)
    assert free.final_losses.mean() < hyb.extra["reconstruction"][-1]  # the domain term costs fidelity


def test_inpainting_mask_hides_the_missing_pixels():
    G, E = make_pair()
    x = targets(G)
    m = center_mask(16, fraction=0.5)
    y = x.clone()
    y[..., 4:12, 4:12] = 1.0  # scribble inside the hole: must not matter
    a = hybrid_invert(G, E, x, steps=4, degradation=Inpaint(m), progress=False)
    b = hybrid_invert(G, E, y, steps=4, degradation=Inpaint(m), progress=False)
    assert a.losses == b.losses
    c = hybrid_invert(G, E, x, steps=4, progress=False)
    assert c.losses != a.losses


def test_colorization_and_super_resolution_targets():
    G, E = make_pair()
    x = targets(G)
    col = hybrid_invert(G, E, x, steps=3, degradation=Colorize(), progress=False)
    gray = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    assert torch.allclose(gray(col.images), gray(x).clamp(-1, 1), atol=1e-4)  # keeps the input's luminance
    low = torch.nn.functional.interpolate(x, size=8, mode="bilinear", align_corners=False)
    sr = hybrid_invert(G, E, low, steps=3, degradation=Downsample(2, 16), progress=False)
    assert sr.images.shape == (2, 3, 16, 16)
    full = hybrid_invert(G, E, x, steps=3, degradation=Downsample(2, 16), progress=False)
    # the low-resolution photo is exactly down(x), so both runs see the same observation and start
    assert sr.losses == pytest.approx(full.losses, abs=1e-6)


def test_masked_diffusion_variant():
    G, E = make_pair()
    x = targets(G)
    keep = torch.zeros(16, 16)
    keep[4:12, 4:12] = 1
    a = hybrid_diffuse(G, E, x, keep, steps=4, progress=False)
    assert a.method == "hybrid-diffuse" and a.extra["domain_weight"] == 0.0
    assert a.extra["domain"] == [0.0] * 4
    with torch.no_grad():
        assert torch.allclose(a.extra["init_codes"], E(x))  # initialised from the whole composite
    # same as hybrid_invert with an inpainting mask of the complement, no domain term, init E(x)
    same = hybrid_invert(
        G, E, x, steps=4, degradation=Inpaint(1 - keep), domain_weight=0.0, init_codes=E(x), progress=False
    )
    assert same.losses == a.losses
    y = x.clone()
    y[..., :2, :] = -1.0  # outside the kept region: with the same start the trajectory is unchanged
    b = hybrid_invert(
        G, E, y, steps=4, degradation=Inpaint(1 - keep), domain_weight=0.0, init_codes=E(x), progress=False
    )
    assert b.losses == a.losses
    with pytest.raises(GanlensError, match="keep mask"):
        hybrid_diffuse(G, E, x, keep * 2, steps=1, progress=False)


def test_perceptual_loss_is_used():
    G, E = make_pair()
    x = targets(G)
    calls = []

    def fake_perceptual(a, b):
        calls.append(1)
        return (a - b).abs().flatten(1).mean(1)

    loss = ReconstructionLoss(mse=1.0, perceptual=0.5, perceptual_model=fake_perceptual)
    r = hybrid_invert(G, E, x, steps=3, loss=loss, progress=False)
    assert len(calls) == 4 and len(r.losses) == 3  # 3 steps + the final evaluation


def test_style_based_generator():
    sg2 = pytest.importorskip("ganlens.generators.stylegan2")
    cfg = sg2.StyleGAN2Config(
        resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=32
    )
    torch.manual_seed(0)
    G = sg2.StyleGAN2Generator(cfg).eval().requires_grad_(False)
    E = Encoder(EncoderConfig.for_generator(G, base_channels=8, max_channels=16)).eval().requires_grad_(False)
    with torch.no_grad():
        x = G(G.sample_z(2, seed=1))
    r = hybrid_invert(G, E, x, steps=3, progress=False)
    assert r.codes.shape == (2, G.num_ws, G.w_dim)
    assert r.losses[-1] < r.losses[0]


def test_bad_inputs():
    G, E = make_pair()
    x = targets(G)
    with pytest.raises(GanlensError, match="32 px"):
        hybrid_invert(G, E, torch.zeros(1, 3, 32, 32), steps=1, progress=False)
    with pytest.raises(GanlensError, match="expected"):
        hybrid_invert(G, E, torch.zeros(1, 1, 16, 16), steps=1, progress=False)
    with pytest.raises(GanlensError, match="domain_weight"):
        hybrid_invert(G, E, x, steps=1, domain_weight=-1.0, progress=False)
    with pytest.raises(GanlensError, match="learning rate"):
        hybrid_invert(G, E, x, steps=1, lr=0.0, progress=False)
    other = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=8))
    with pytest.raises(GanlensError, match="train an encoder"):
        hybrid_invert(other, E, x, steps=1, progress=False)
    with pytest.raises(GanlensError, match="Encoder"):
        hybrid_invert(G, lambda t: t, x, steps=1, progress=False)
    with pytest.raises(GanlensError, match="initial codes"):
        hybrid_invert(G, E, x, steps=1, init_codes=torch.zeros(3, 16), progress=False)
