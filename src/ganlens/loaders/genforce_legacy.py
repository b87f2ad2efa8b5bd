"""genforce state dicts for PGGAN and StyleGAN v1 (SPEC §2.3, §2.4), both directions.

``ganlens.loaders.genforce.load_genforce(path)`` reads the ``.pth`` file and hands the generator
state dict to :func:`stylegan_from_genforce` or :func:`pggan_from_genforce`. Tensors are copied
unchanged (runtime coefficients are never baked in) except for two layout differences:

* PGGAN ``layer0.weight`` is the TF dense weight as a 4×4 conv on a 1×1 input, i.e.
  ``[C_out, z, 4, 4]`` spatially flipped; ours is the dense matrix ``A`` of shape ``(C·16, z)``.
* PGGAN fused upsampling weights are ``[in, out, 3, 3]`` there, ``[out, in, 3, 3]`` here.

StyleGAN v1 style biases keep the TF convention (the +1 of the scale half is added at run time,
in both implementations). Only fully grown models (``lod == 0``) are accepted; the ToRGB heads
of lower resolutions are unused then and not kept (the exporters write zeros there).

Older namings are recognised and converted first: HiGAN/mGANprior PGGAN (``layer{i}.conv.weight``,
``layer{i}.wscale.bias``, fused weights ``[k, k, in, out]``) and the idinvert (In-Domain inversion,
TediGAN 256) StyleGAN v1 generator (``mapping.dense{i}.fc.weight``, ``layer{i}.epilogue.*``,
``style_mod.dense.*``, fused weights ``[k, k, in, out]``, a ``(w_dim,)`` ``w_avg`` even for
``repeat_w=False``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

import torch
from torch import Tensor

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.base import Generator
from ganlens.generators.native import load_state_dict_strict
from ganlens.generators.pggan import PGGANConfig, PGGANGenerator
from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator

_G = TypeVar("_G", bound=Generator)

_WRAPPER_KEYS = ("generator_smooth", "generator")


def _unwrap(state: Mapping, what: str) -> dict[str, Tensor]:
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"a genforce {what} state must be a dict of tensors, got {type(state).__name__}"
        )
    for k in _WRAPPER_KEYS:  # a whole genforce checkpoint: use the EMA generator when present
        if k in state and isinstance(state[k], Mapping):
            state = state[k]
            break
    out = {}
    for k, v in state.items():
        if not isinstance(v, Tensor):
            raise CheckpointError(f"genforce {what} entry {k!r} is a {type(v).__name__}, not a tensor")
        out[str(k)] = v.detach().float() if v.is_floating_point() else v.detach()
    return out


def _need(state: dict[str, Tensor], key: str, what: str, ndim: int | None = None) -> Tensor:
    if key not in state:
        raise CheckpointError(
            f"genforce {what} state has no {key!r}; it is not a {what} generator in genforce layout"
        )
    t = state[key]
    if ndim is not None and t.ndim != ndim:
        raise CheckpointError(
            f"genforce {what} entry {key!r} has shape {tuple(t.shape)}; expected {ndim} dimensions"
        )
    return t


def _check_lod(state: dict[str, Tensor], key: str) -> None:
    if key in state and float(state[key].float().reshape(-1)[0]) != 0.0:
        raise CheckpointError(
            f"checkpoint has {key} = {float(state[key].reshape(-1)[0])}; "
            "only fully grown models (lod 0) are supported"
        )


def _build(
    G: Generator, ours: dict[str, Tensor], state: dict[str, Tensor], known: str, what: str
) -> Generator:
    """Refuse entries of the genforce ``state`` outside the ``known`` pattern, then load the
    converted tensors ``ours`` strictly into ``G`` (an untrained generator of the right config)."""
    pattern = re.compile(known)
    unknown = sorted(k for k in state if not pattern.fullmatch(k))
    if unknown:
        raise CheckpointError(f"genforce {what} state has unexpected entries {unknown[:5]}")
    load_state_dict_strict(G, ours, source=f"genforce {what} state")
    return G.eval().requires_grad_(False)


def _indices(state: dict[str, Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.fullmatch(k))})


def infer_fmaps(channels: dict[int, int], what: str) -> tuple[int, int]:
    """(fmaps_base, fmaps_max) such that ``min(base // r, max)`` gives ``channels[r]`` for every r."""
    fmaps_max = channels[4]
    below = [r for r in sorted(channels) if channels[r] < fmaps_max]
    fmaps_base = channels[below[0]] * below[0] if below else max(16384, fmaps_max * max(channels))
    got = {r: min(fmaps_base // r, fmaps_max) for r in channels}
    if got != channels:
        raise CheckpointError(
            f"genforce {what} channel counts {channels} do not follow "
            "min(fmaps_base // r, fmaps_max); unsupported layout"
        )
    return fmaps_base, fmaps_max


def _resolution_from_layers(n_layers: int, what: str) -> int:
    log2r = (n_layers + 2) // 2
    if n_layers < 4 or n_layers % 2 or not 3 <= log2r <= 10:
        raise CheckpointError(
            f"genforce {what} state has {n_layers} synthesis layers; expected an even number from 4 to 18"
        )
    return 2**log2r


def _progressive_outputs(sd: dict[str, Tensor], cfg, blocks: int, prefix: str) -> dict[str, Tensor]:
    """genforce's per-resolution ToRGB layers ``{prefix}output{b}``: ours has one, at the final
    resolution, so that is the last; the lower ones are zeros (the official model only reads
    them while it fades in a resolution, at lod > 0)."""
    out = {}
    for b in range(blocks):
        if b == blocks - 1:
            out[f"{prefix}output{b}.weight"] = sd["to_rgb.weight"]
            out[f"{prefix}output{b}.bias"] = sd["to_rgb.bias"]
        else:
            out[f"{prefix}output{b}.weight"] = torch.zeros(cfg.img_channels, cfg.nf(4 * 2**b), 1, 1)
            out[f"{prefix}output{b}.bias"] = torch.zeros(cfg.img_channels)
    return out


# ====================================================================== StyleGAN v1
_IDINVERT_RULES = (
    (re.compile(r"mapping\.dense(\d+)\.fc\.weight"), "mapping.dense{}.weight"),
    (re.compile(r"mapping\.dense(\d+)\.wscale\.bias"), "mapping.dense{}.bias"),
    (re.compile(r"synthesis\.layer(\d+)\.conv\.weight"), "synthesis.layer{}.weight"),
    (
        re.compile(r"synthesis\.layer(\d+)\.epilogue\.apply_noise\.(noise|weight)"),
        "synthesis.layer{}.apply_noise.{}",
    ),
    (re.compile(r"synthesis\.layer(\d+)\.epilogue\.bias"), "synthesis.layer{}.bias"),
    (
        re.compile(r"synthesis\.layer(\d+)\.epilogue\.style_mod\.dense\.fc\.weight"),
        "synthesis.layer{}.style.weight",
    ),
    (
        re.compile(r"synthesis\.layer(\d+)\.epilogue\.style_mod\.dense\.wscale\.bias"),
        "synthesis.layer{}.style.bias",
    ),
    (re.compile(r"synthesis\.output(\d+)\.conv\.weight"), "synthesis.output{}.weight"),
)


def _stylegan_genforce_naming(s: dict[str, Tensor]) -> tuple[dict[str, Tensor], set[int] | None]:
    """Convert idinvert naming to genforce naming; also return the fused layer indices when known."""
    if "mapping.dense0.fc.weight" not in s:
        return s, None
    out: dict[str, Tensor] = {}
    fused: set[int] = set()
    for k, v in s.items():
        if k == "truncation.truncation":  # idinvert bakes its default truncation into a buffer
            continue
        for rx, fmt in _IDINVERT_RULES:
            m = rx.fullmatch(k)
            if m:
                out[fmt.format(*m.groups())] = v
                break
        else:
            m = re.fullmatch(r"synthesis\.layer(\d+)\.weight", k)
            if m:  # fused upsampling kernel, TF layout [k, k, in, out] -> [out, in, k, k]
                if v.ndim != 4:
                    raise CheckpointError(f"{k!r} has shape {tuple(v.shape)}; expected [k, k, in, out]")
                out[k] = v.permute(3, 2, 0, 1)
                fused.add(int(m.group(1)))
            else:
                out[k] = v
    return out, fused


def _fused_scale_from_layers(fused: set[int], num_ws: int) -> bool | str:
    ups = {i: 4 * 2 ** (i // 2) for i in range(2, num_ws, 2)}
    if fused == {i for i, r in ups.items() if r >= 128}:
        return "auto"
    if fused == set(ups):
        return True
    if not fused:
        return False
    raise CheckpointError(f"fused upsampling in layers {sorted(fused)} matches neither 'auto', all nor none")


def stylegan_config_from_genforce(
    state: Mapping, *, fused_scale: bool | str = "auto", final_tanh: bool | None = None
) -> StyleGANConfig:
    """Infer a :class:`StyleGANConfig` from a genforce v1 state dict.

    ``fused_scale`` cannot be read from genforce weights (fused and plain kernels have the same
    shape; official models use ``"auto"``); with the idinvert naming it is read from the key names
    and the argument is ignored. ``final_tanh=None`` means True exactly for the
    ``repeat_w=False`` (In-Domain / TediGAN) models.
    """
    s, fused_layers = _stylegan_genforce_naming(_unwrap(state, "StyleGAN"))
    if "mapping.label_weight" in s:
        raise CheckpointError("conditional StyleGAN checkpoints (mapping.label_weight) are not supported")
    if "synthesis.layer0.const" not in s:
        raise CheckpointError(
            "genforce StyleGAN state has no 'synthesis.layer0.const'; "
            "models without a constant input are not supported"
        )
    dense = _indices(s, r"mapping\.dense(\d+)\.weight")
    if not dense or dense != list(range(len(dense))):
        raise CheckpointError("genforce StyleGAN state has no mapping.dense{0..} weights")
    styles = _indices(s, r"synthesis\.layer(\d+)\.style\.weight")
    num_ws = len(styles)
    resolution = _resolution_from_layers(num_ws, "StyleGAN")
    d0 = _need(s, "mapping.dense0.weight", "StyleGAN", 2)
    dl = _need(s, f"mapping.dense{len(dense) - 1}.weight", "StyleGAN", 2)
    w_dim = _need(s, "synthesis.layer0.style.weight", "StyleGAN", 2).shape[1]
    if dl.shape[0] == w_dim:
        repeat_w = True
    elif dl.shape[0] == w_dim * num_ws:
        repeat_w = False
    else:
        raise CheckpointError(
            f"mapping output size {dl.shape[0]} is neither w_dim {w_dim} nor num_ws·w_dim {w_dim * num_ws}"
        )
    channels = {
        4 * 2 ** (i // 2): _need(s, f"synthesis.layer{i}.style.weight", "StyleGAN", 2).shape[0] // 2
        for i in styles
    }
    fmaps_base, fmaps_max = infer_fmaps(channels, "StyleGAN")
    out = _need(s, f"synthesis.output{num_ws // 2 - 1}.weight", "StyleGAN", 4)
    if fused_layers is not None:  # the naming tells which layers are fused
        fused_scale = _fused_scale_from_layers(fused_layers, num_ws)
    return StyleGANConfig(
        resolution=resolution,
        z_dim=d0.shape[1],
        w_dim=w_dim,
        mapping_layers=len(dense),
        mapping_fmaps=d0.shape[0] if len(dense) > 1 else w_dim,
        repeat_w=repeat_w,
        final_tanh=(not repeat_w) if final_tanh is None else bool(final_tanh),
        fused_scale=fused_scale,
        fmaps_base=fmaps_base,
        fmaps_max=fmaps_max,
        img_channels=out.shape[0],
    )


def stylegan_from_genforce(
    state: Mapping, *, fused_scale: bool | str = "auto", final_tanh: bool | None = None
) -> StyleGANGenerator:
    """Build a :class:`StyleGANGenerator` from a genforce v1 generator state dict (SPEC §2.3).

    Raises:
        CheckpointError: missing/unexpected keys, bad shapes, ``lod != 0``, unsupported variants.
    """
    s, _ = _stylegan_genforce_naming(_unwrap(state, "StyleGAN"))
    cfg = stylegan_config_from_genforce(state, fused_scale=fused_scale, final_tanh=final_tanh)
    _check_lod(s, "synthesis.lod")
    ours: dict[str, Tensor] = {}
    for i in range(cfg.mapping_layers):
        ours[f"mapping_net.fc{i}.weight"] = s.get(f"mapping.dense{i}.weight")
        ours[f"mapping_net.fc{i}.bias"] = s.get(f"mapping.dense{i}.bias")
    w_avg = s.get("truncation.w_avg")
    if w_avg is not None and not cfg.repeat_w and w_avg.shape == (cfg.w_dim,):
        w_avg = w_avg.repeat(cfg.num_ws)  # idinvert keeps one (w_dim,) average for every row
    ours["mapping_net.w_avg"] = w_avg
    for i in range(cfg.num_ws):
        src, dst = f"synthesis.layer{i}.", f"layers.{i}."
        if i == 0:
            ours[dst + "const"] = s.get(src + "const")
        else:
            ours[dst + "conv.weight"] = s.get(src + "weight")
        ours[dst + "bias"] = s.get(src + "bias")
        ours[dst + "noise_strength"] = s.get(src + "apply_noise.weight")
        ours[dst + "noise_const"] = s.get(src + "apply_noise.noise")
        ours[dst + "affine.weight"] = s.get(src + "style.weight")
        ours[dst + "affine.bias"] = s.get(src + "style.bias")
    last = cfg.num_ws // 2 - 1
    ours["to_rgb.weight"] = s.get(f"synthesis.output{last}.weight")
    ours["to_rgb.bias"] = s.get(f"synthesis.output{last}.bias")
    missing = [k for k, v in ours.items() if v is None]
    if missing:
        raise CheckpointError(
            f"genforce StyleGAN state lacks the tensor for {missing[0]!r} ({len(missing)} missing)"
        )
    known = (
        r"mapping\.dense\d+\.(weight|bias)|truncation\.w_avg|synthesis\.lod|synthesis\.output\d+\.(weight|bias)"
        r"|synthesis\.layer\d+\.(const|weight|bias|apply_noise\.(weight|noise)|style\.(weight|bias)|blur\.kernel)"
    )
    return _build(StyleGANGenerator(cfg), ours, s, known, "StyleGAN")


def to_genforce_stylegan_state(G: StyleGANGenerator) -> dict[str, Tensor]:
    """The genforce ``StyleGANGenerator`` state dict for ``G`` (loads strictly into the official model)."""
    if not isinstance(G, StyleGANGenerator):
        raise GanlensError(f"to_genforce_stylegan_state needs a StyleGAN v1 generator, got {G.arch!r}")
    cfg = G.config
    sd = {k: v.detach().cpu().clone() for k, v in G.state_dict().items()}
    out: dict[str, Tensor] = {}
    for i in range(cfg.mapping_layers):
        out[f"mapping.dense{i}.weight"] = sd[f"mapping_net.fc{i}.weight"]
        out[f"mapping.dense{i}.bias"] = sd[f"mapping_net.fc{i}.bias"]
    out["truncation.w_avg"] = sd["mapping_net.w_avg"]
    out["synthesis.lod"] = torch.zeros(())
    for i in range(cfg.num_ws):
        src, dst = f"layers.{i}.", f"synthesis.layer{i}."
        r = 4 * 2 ** (i // 2)
        if i == 0:
            out[dst + "const"] = sd[src + "const"]
        else:
            out[dst + "weight"] = sd[src + "conv.weight"]
        out[dst + "bias"] = sd[src + "bias"]
        out[dst + "apply_noise.noise"] = sd[src + "noise_const"]
        out[dst + "apply_noise.weight"] = sd[src + "noise_strength"]
        out[dst + "style.weight"] = sd[src + "affine.weight"]
        out[dst + "style.bias"] = sd[src + "affine.bias"]
        if i >= 2 and i % 2 == 0:
            k = torch.tensor([1.0, 2.0, 1.0])
            out[dst + "blur.kernel"] = ((k[:, None] * k[None, :]) / 16.0).expand(cfg.nf(r), 1, 3, 3).clone()
    out.update(_progressive_outputs(sd, cfg, cfg.num_ws // 2, "synthesis."))
    return out


# ====================================================================== PGGAN
_OLD_PGGAN = re.compile(r"(layer\d+|output\d+)\.(conv\.weight|wscale\.bias|weight)")


def _pggan_new_naming(s: dict[str, Tensor]) -> tuple[dict[str, Tensor], bool | None]:
    """Convert HiGAN/mGANprior naming to genforce naming; also return fused_scale when it is known."""
    if "layer0.conv.weight" not in s:
        return s, None
    out: dict[str, Tensor] = {}
    fused = None
    for k, v in s.items():
        if k == "lod":
            out[k] = v
            continue
        m = _OLD_PGGAN.fullmatch(k)
        if not m:
            raise CheckpointError(f"unexpected key {k!r} in an mGANprior-style PGGAN state")
        name, field = m.groups()
        if field == "conv.weight":
            out[f"{name}.weight"] = v
            if name != "layer0" and name.startswith("layer") and int(name[5:]) % 2 == 0:
                fused = False
        elif field == "wscale.bias":
            out[f"{name}.bias"] = v
        else:  # a fused upsampling kernel, stored TF-style [k, k, in, out]
            if v.ndim != 4:
                raise CheckpointError(f"{k!r} has shape {tuple(v.shape)}; expected [k, k, in, out]")
            out[f"{name}.weight"] = v.permute(2, 3, 0, 1)
            fused = True
    return out, fused


def pggan_config_from_genforce(
    state: Mapping, *, fused_scale: bool | None = None, final_tanh: bool = False
) -> PGGANConfig:
    """Infer a :class:`PGGANConfig` from a genforce (or mGANprior-named) PGGAN state dict.

    ``fused_scale=None`` infers it where the shapes tell (layers whose in/out channels differ,
    or the old naming) and otherwise assumes False, as in every official PGGAN model.
    """
    s, known_fused = _pggan_new_naming(_unwrap(state, "PGGAN"))
    layers = _indices(s, r"layer(\d+)\.weight")
    if not layers or layers != list(range(len(layers))):
        raise CheckpointError(
            "genforce PGGAN state has no layer{0..}.weight tensors; it is not a genforce PGGAN"
        )
    resolution = _resolution_from_layers(len(layers), "PGGAN")
    l0 = _need(s, "layer0.weight", "PGGAN", 4)
    if tuple(l0.shape[2:]) != (4, 4):
        raise CheckpointError(f"PGGAN layer0.weight has shape {tuple(l0.shape)}; expected [C, z_dim, 4, 4]")
    channels = {
        4 * 2 ** (i // 2): _need(s, f"layer{i}.weight", "PGGAN", 4).shape[0] for i in layers if i % 2 == 1
    }
    fmaps_base, fmaps_max = infer_fmaps(channels, "PGGAN")
    if fused_scale is None:
        fused_scale = known_fused
    if fused_scale is None:
        fused_scale = False
        for i in layers[2::2]:
            r = 4 * 2 ** (i // 2)
            if channels[r] != channels[r // 2]:
                fused_scale = tuple(s[f"layer{i}.weight"].shape[:2]) == (channels[r // 2], channels[r])
                break
    out = _need(s, f"output{len(layers) // 2 - 1}.weight", "PGGAN", 4)
    return PGGANConfig(
        resolution=resolution,
        z_dim=l0.shape[1],
        fused_scale=bool(fused_scale),
        fmaps_base=fmaps_base,
        fmaps_max=fmaps_max,
        final_tanh=bool(final_tanh),
        img_channels=out.shape[0],
    )


def pggan_from_genforce(
    state: Mapping, *, fused_scale: bool | None = None, final_tanh: bool = False
) -> PGGANGenerator:
    """Build a :class:`PGGANGenerator` from a genforce PGGAN generator state dict (SPEC §2.3).

    Also accepts the older HiGAN/mGANprior naming. Raises CheckpointError on anything else.
    """
    s, _ = _pggan_new_naming(_unwrap(state, "PGGAN"))
    cfg = pggan_config_from_genforce(s, fused_scale=fused_scale, final_tanh=final_tanh)
    _check_lod(s, "lod")
    n = cfg.num_conv_layers
    ours: dict[str, Tensor] = {}
    l0 = s["layer0.weight"]  # (C, z, 4, 4), spatially flipped
    ours["dense.weight"] = l0.flip(2, 3).permute(0, 2, 3, 1).reshape(l0.shape[0] * 16, l0.shape[1])
    ours["dense_bias"] = _need(s, "layer0.bias", "PGGAN")
    for i in range(1, n):
        w = s[f"layer{i}.weight"]
        if cfg.fused_scale and i % 2 == 0:
            w = w.transpose(0, 1)  # genforce stores fused kernels as [in, out, 3, 3]
        ours[f"convs.{i - 1}.conv.weight"] = w
        ours[f"convs.{i - 1}.conv.bias"] = _need(s, f"layer{i}.bias", "PGGAN")
    last = n // 2 - 1
    ours["to_rgb.weight"] = s[f"output{last}.weight"]
    ours["to_rgb.bias"] = _need(s, f"output{last}.bias", "PGGAN")
    return _build(PGGANGenerator(cfg), ours, s, r"lod|(layer|output)\d+\.(weight|bias)", "PGGAN")


def to_genforce_pggan_state(G: PGGANGenerator) -> dict[str, Tensor]:
    """The genforce ``PGGANGenerator`` state dict for ``G`` (loads strictly into the official model)."""
    if not isinstance(G, PGGANGenerator):
        raise GanlensError(f"to_genforce_pggan_state needs a PGGAN generator, got {G.arch!r}")
    cfg = G.config
    sd = {k: v.detach().cpu().clone() for k, v in G.state_dict().items()}
    c4 = cfg.nf(4)
    out: dict[str, Tensor] = {"lod": torch.zeros(())}
    a = sd["dense.weight"]  # (C·16, z)
    out["layer0.weight"] = a.reshape(c4, 4, 4, cfg.z_dim).permute(0, 3, 1, 2).flip(2, 3).contiguous()
    out["layer0.bias"] = sd["dense_bias"]
    for i in range(1, cfg.num_conv_layers):
        w = sd[f"convs.{i - 1}.conv.weight"]
        out[f"layer{i}.weight"] = w.transpose(0, 1).contiguous() if cfg.fused_scale and i % 2 == 0 else w
        out[f"layer{i}.bias"] = sd[f"convs.{i - 1}.conv.bias"]
    out.update(_progressive_outputs(sd, cfg, cfg.num_conv_layers // 2, ""))
    return out
