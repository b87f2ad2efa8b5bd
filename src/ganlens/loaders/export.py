"""Key maps between our StyleGAN2 and the official layouts, and writers for each format (SPEC §2.1–2.4).

One table per format lists ``(our key, their key, conversion)``; exporters apply the conversion,
loaders apply its inverse, so both directions share one definition. Conventions handled here:

* NVIDIA ADA: same tensors, our roots ``mapping_network``/``synthesis_network`` become
  ``mapping``/``synthesis``; ADA also stores the normalised [1,3,3,1] ``resample_filter`` buffers.
* rosinality: conv weights get a leading 1 (``[1, O, I, k, k]``), noise strength is ``[1]``, noise
  maps and the constant are ``[1, 1, r, r]`` / ``[1, C, 4, 4]``, ToRGB bias is ``[1, 3, 1, 1]``,
  mapping layers are ``style.{1..L}``; same kernel orientation and affine bias (+1 stored) as ADA.
* genforce: the upsampling conv (``conv0``) kernel is spatially **flipped** (TF orientation) and
  affine biases are stored **without** the +1 (added at run time).

ADA and the TF-era layout cover all three generator architectures (``skip``, ``orig``, ``resnet``:
a ToRGB in every block or only the last, and the resnet shortcut ``skip.weight``), ADA also
conditional models (``mapping.embed``); rosinality's and genforce's exporters take unconditional
``skip`` models only.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganlens.errors import GanlensError
from ganlens.generators.fir import setup_filter
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ganlens.utils.io import atomic_path

# conversion name -> (ours -> theirs, theirs -> ours)
CONVERSIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "same": (lambda t: t, lambda t: t),
    "lead1": (lambda t: t.unsqueeze(0), lambda t: t.squeeze(0)),
    "noise": (lambda t: t[None, None], lambda t: t.reshape(t.shape[-2:])),
    "scalar1": (lambda t: t.reshape(1), lambda t: t.reshape(())),
    "rgb_bias": (lambda t: t.reshape(1, -1, 1, 1), lambda t: t.reshape(-1)),
    "minus1": (lambda t: t - 1.0, lambda t: t + 1.0),
    "flip": (lambda t: t.flip([2, 3]), lambda t: t.flip([2, 3])),
}

KeyMap = list[tuple[str, str, str]]


def _layers(cfg: StyleGAN2Config) -> list[tuple[int, str]]:
    """Conv layers in order: (resolution, 'conv0'|'conv1')."""
    out = [(4, "conv1")]
    for r in cfg.block_resolutions[1:]:
        out += [(r, "conv0"), (r, "conv1")]
    return out


def _ours(r: int, name: str) -> str:
    return f"synthesis_network.b{r}.{name}"


def _need_plain_stylegan2(G: StyleGAN2Generator, fmt: str) -> None:
    """The formats without architecture or class options: skip, unconditional models only."""
    if G.config.c_dim:
        raise GanlensError(
            f"the {fmt} format holds unconditional generators only; this one has c_dim {G.config.c_dim} "
            "(export it as an NVIDIA pickle instead)"
        )
    if G.config.architecture != "skip":
        raise GanlensError(
            f"the {fmt} format holds 'skip' StyleGAN2 generators only; this one is "
            f"{G.config.architecture!r} (export it as an NVIDIA pickle instead)"
        )


def ada_keymap(cfg: StyleGAN2Config) -> KeyMap:
    """Our keys ↔ ADA ``G_ema.state_dict()`` keys (filters excluded, see :func:`ada_filters`)."""
    km: KeyMap = [("mapping_network.w_avg", "mapping.w_avg", "same")]
    for i in range(cfg.mapping_layers):
        for p in ("weight", "bias"):
            km.append((f"mapping_network.fc{i}.{p}", f"mapping.fc{i}.{p}", "same"))
    if cfg.c_dim:
        km += [(f"mapping_network.embed.{p}", f"mapping.embed.{p}", "same") for p in ("weight", "bias")]
    km.append(("synthesis_network.b4.const", "synthesis.b4.const", "same"))
    for r, name in _layers(cfg):
        for p in ("weight", "bias", "noise_strength", "noise_const", "affine.weight", "affine.bias"):
            km.append((f"{_ours(r, name)}.{p}", f"synthesis.b{r}.{name}.{p}", "same"))
        if name == "conv1" and cfg.has_torgb(r):
            for p in ("weight", "bias", "affine.weight", "affine.bias"):
                km.append((f"{_ours(r, 'torgb')}.{p}", f"synthesis.b{r}.torgb.{p}", "same"))
        if name == "conv1" and cfg.has_skip(r):
            km.append((f"{_ours(r, 'skip')}.weight", f"synthesis.b{r}.skip.weight", "same"))
    return km


def ada_filters(cfg: StyleGAN2Config) -> dict[str, Tensor]:
    """The ``resample_filter`` buffers ADA stores (block level and in each conv layer)."""
    f = setup_filter()
    out = {}
    for r, name in _layers(cfg):
        out[f"synthesis.b{r}.resample_filter"] = f.clone()
        out[f"synthesis.b{r}.{name}.resample_filter"] = f.clone()
        if cfg.has_skip(r):
            out[f"synthesis.b{r}.skip.resample_filter"] = f.clone()
    return out


def rosinality_keymap(cfg: StyleGAN2Config) -> KeyMap:
    """Our keys ↔ rosinality ``g_ema`` keys (blur/upsample kernels: :func:`rosinality_filters`)."""
    km: KeyMap = []
    for i in range(cfg.mapping_layers):
        for p in ("weight", "bias"):
            km.append((f"mapping_network.fc{i}.{p}", f"style.{i + 1}.{p}", "same"))
    km.append(("synthesis_network.b4.const", "input.input", "lead1"))
    for j, (r, name) in enumerate(_layers(cfg)):
        theirs = "conv1" if j == 0 else f"convs.{j - 1}"
        o = _ours(r, name)
        km += [
            (f"{o}.weight", f"{theirs}.conv.weight", "lead1"),
            (f"{o}.affine.weight", f"{theirs}.conv.modulation.weight", "same"),
            (f"{o}.affine.bias", f"{theirs}.conv.modulation.bias", "same"),
            (f"{o}.noise_strength", f"{theirs}.noise.weight", "scalar1"),
            (f"{o}.bias", f"{theirs}.activate.bias", "same"),
            (f"{o}.noise_const", f"noises.noise_{j}", "noise"),
        ]
        if name == "conv1":
            rgb = "to_rgb1" if r == 4 else f"to_rgbs.{(j - 2) // 2}"
            t = _ours(r, "torgb")
            km += [
                (f"{t}.weight", f"{rgb}.conv.weight", "lead1"),
                (f"{t}.affine.weight", f"{rgb}.conv.modulation.weight", "same"),
                (f"{t}.affine.bias", f"{rgb}.conv.modulation.bias", "same"),
                (f"{t}.bias", f"{rgb}.bias", "rgb_bias"),
            ]
    return km


def rosinality_filters(cfg: StyleGAN2Config) -> dict[str, Tensor]:
    """Blur kernels of the upsampling convs and ToRGB upsamplers (normalised, ×4)."""
    f = setup_filter() * 4.0
    out = {}
    for k in range(len(cfg.block_resolutions) - 1):
        out[f"convs.{2 * k}.conv.blur.kernel"] = f.clone()
        out[f"to_rgbs.{k}.upsample.kernel"] = f.clone()
    return out


def genforce_keymap(cfg: StyleGAN2Config) -> KeyMap:
    """Our keys ↔ genforce ``generator_smooth`` keys (filter kernels: :func:`genforce_filters`)."""
    km: KeyMap = [("mapping_network.w_avg", "truncation.w_avg", "same")]
    for i in range(cfg.mapping_layers):
        for p in ("weight", "bias"):
            km.append((f"mapping_network.fc{i}.{p}", f"mapping.dense{i}.{p}", "same"))
    km.append(("synthesis_network.b4.const", "synthesis.early_layer.const", "lead1"))
    for j, (r, name) in enumerate(_layers(cfg)):
        o, g = _ours(r, name), f"synthesis.layer{j}"
        km += [
            (f"{o}.weight", f"{g}.weight", "flip" if name == "conv0" else "same"),
            (f"{o}.bias", f"{g}.bias", "same"),
            (f"{o}.noise_strength", f"{g}.noise_strength", "same"),
            (f"{o}.noise_const", f"{g}.noise", "noise"),
            (f"{o}.affine.weight", f"{g}.style.weight", "same"),
            (f"{o}.affine.bias", f"{g}.style.bias", "minus1"),
        ]
        if name == "conv1":
            t, out = _ours(r, "torgb"), f"synthesis.output{j // 2}"
            km += [
                (f"{t}.weight", f"{out}.weight", "same"),
                (f"{t}.bias", f"{out}.bias", "same"),
                (f"{t}.affine.weight", f"{out}.style.weight", "same"),
                (f"{t}.affine.bias", f"{out}.style.bias", "minus1"),
            ]
    return km


def genforce_filters(cfg: StyleGAN2Config) -> dict[str, Tensor]:
    f = (setup_filter() * 4.0)[None, None]  # (1, 1, 4, 4)
    out = {"synthesis.upsample.kernel": f.clone()}
    for j, (_, name) in enumerate(_layers(cfg)):
        if name == "conv0":
            out[f"synthesis.layer{j}.filter.kernel"] = f.clone()
    return out


def _export(G: StyleGAN2Generator, keymap: KeyMap, extra: dict[str, Tensor]) -> dict[str, Tensor]:
    own = G.state_dict()
    out: dict[str, Tensor] = {}
    for ours, theirs, conv in keymap:
        out[theirs] = CONVERSIONS[conv][0](own[ours].detach().float().cpu()).contiguous().clone()
    out.update(extra)
    return out


def import_state(cfg: StyleGAN2Config, state: dict[str, Tensor], keymap: KeyMap) -> dict[str, Tensor]:
    """Their tensors → our state dict via ``keymap`` (missing keys are left for the strict load to report)."""
    out = {}
    for ours, theirs, conv in keymap:
        if theirs in state:
            out[ours] = CONVERSIONS[conv][1](state[theirs].detach().float()).contiguous()
    return out


def to_ada_state(G: StyleGAN2Generator) -> dict[str, Tensor]:
    """``G_ema.state_dict()`` of the equivalent stylegan2-ada-pytorch Generator."""
    return _export(G, ada_keymap(G.config), ada_filters(G.config))


def _warn_clamp(G: StyleGAN2Generator, fmt: str) -> None:
    if G.config.conv_clamp is not None:
        warnings.warn(
            f"the {fmt} format has no conv_clamp; the exported model will not clamp at "
            f"±{G.config.conv_clamp}",
            stacklevel=3,
        )


def to_rosinality_state(G: StyleGAN2Generator) -> dict[str, Tensor]:
    """``g_ema`` state dict of the equivalent rosinality Generator (``latent_avg`` is G.w_avg)."""
    _need_plain_stylegan2(G, "rosinality")
    _warn_clamp(G, "rosinality")
    return _export(G, rosinality_keymap(G.config), rosinality_filters(G.config))


def to_genforce_state(G: StyleGAN2Generator) -> dict[str, Tensor]:
    """``generator_smooth`` state dict of the equivalent genforce StyleGAN2Generator."""
    _need_plain_stylegan2(G, "genforce")
    _warn_clamp(G, "genforce")
    return _export(G, genforce_keymap(G.config), genforce_filters(G.config))


def _torch_save(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))


def save_rosinality(G: StyleGAN2Generator, path: str | Path) -> None:
    """Write ``{'g_ema': ..., 'latent_avg': ...}`` like rosinality's ``convert_weight.py``."""
    _torch_save({"g_ema": to_rosinality_state(G), "latent_avg": G.w_avg.detach().float().cpu().clone()}, path)


def save_genforce(G: StyleGAN2Generator, path: str | Path) -> None:
    """Write ``{'generator_smooth': ...}`` as genforce/SeFa load it."""
    _torch_save({"generator_smooth": to_genforce_state(G)}, path)


# ---------------------------------------------------------------------- NVIDIA pickle writer
_PLACEHOLDER_SRC = "# written by ganlens.loaders.export: state only, no source code\n"


class _Global:
    """A reference pickled as a bare ``module.name`` global (the target need not be importable here)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _Reduce:
    """An object pickled as ``func(*args)`` where func is a :class:`_Global`."""

    def __init__(self, func: _Global, args: tuple) -> None:
        self.func, self.args = func, args


class _Pickler(pickle._Pickler):  # the pure-Python pickler lets us emit globals by name
    dispatch = pickle._Pickler.dispatch.copy()

    def _save_global_ref(self, obj: _Global) -> None:
        self.save(obj.module)
        self.save(obj.name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    def _save_reduce_obj(self, obj: _Reduce) -> None:
        self.save(obj.func)
        self.save(obj.args)
        self.write(pickle.REDUCE)
        self.memoize(obj)

    dispatch[_Global] = _save_global_ref
    dispatch[_Reduce] = _save_reduce_obj


_RECONSTRUCT = _Global("torch_utils.persistence", "_reconstruct_persistent_obj")
_EASYDICT = _Global("dnnlib.util", "EasyDict")


def _easydict(d: dict) -> _Reduce:
    # EasyDict(dict) — pickled as a call with the items, which the official unpickler also accepts.
    return _Reduce(_EASYDICT, (dict(d),))


def _module(
    class_name: str, params: dict, buffers: dict, modules: dict, init_kwargs: dict, **attrs: Any
) -> _Reduce:
    state = {
        "training": False,
        "_parameters": OrderedDict(
            (k, torch.nn.Parameter(v, requires_grad=False)) for k, v in params.items()
        ),
        "_buffers": OrderedDict(buffers),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": OrderedDict(modules),
        **attrs,
        "_init_args": (),
        "_init_kwargs": init_kwargs,
    }
    meta = {
        "type": "class",
        "version": 6,
        "module_src": _PLACEHOLDER_SRC,
        "class_name": class_name,
        "state": state,
    }
    return _Reduce(_RECONSTRUCT, (meta,))


def _fc(
    sd: dict[str, Tensor], key: str, *, lr_mul: float = 1.0, activation: str = "linear", bias_init: float = 0
) -> _Reduce:
    w, b = sd[f"{key}.weight"], sd[f"{key}.bias"]
    kw = {
        "in_features": w.shape[1],
        "out_features": w.shape[0],
        "activation": activation,
        "lr_multiplier": lr_mul,
        "bias_init": bias_init,
    }
    return _module(
        "FullyConnectedLayer",
        {"weight": w, "bias": b},
        {},
        {},
        kw,
        activation=activation,
        weight_gain=np.float64(lr_mul / np.sqrt(w.shape[1])),
        bias_gain=lr_mul,
    )


def ada_pickle_tree(G: StyleGAN2Generator) -> _Reduce:
    """The persistent-object tree of an ADA ``Generator`` holding G's weights (SPEC §2.1)."""
    c: StyleGAN2Config = G.config
    sd = to_ada_state(G)
    mapping_kwargs = {
        "num_layers": c.mapping_layers,
        "lr_multiplier": c.mapping_lr_mul,
        "w_avg_beta": c.w_avg_beta,
    }
    synthesis_kwargs = {
        "channel_base": c.channel_base,
        "channel_max": c.channel_max,
        "num_fp16_res": 0,
        "conv_clamp": c.conv_clamp,
        "architecture": c.architecture,
    }
    fcs = {
        f"fc{i}": _fc(sd, f"mapping.fc{i}", lr_mul=c.mapping_lr_mul, activation="lrelu")
        for i in range(c.mapping_layers)
    }
    if c.c_dim:
        fcs = {"embed": _fc(sd, "mapping.embed"), **fcs}
    mapping = _module(
        "MappingNetwork",
        {},
        {"w_avg": sd["mapping.w_avg"]},
        fcs,
        {"z_dim": c.z_dim, "c_dim": c.c_dim, "w_dim": c.w_dim, "num_ws": c.num_ws, **mapping_kwargs},
        z_dim=c.z_dim,
        c_dim=c.c_dim,
        w_dim=c.w_dim,
        num_ws=c.num_ws,
        num_layers=c.mapping_layers,
        w_avg_beta=c.w_avg_beta,
    )
    blocks = {}
    for r in c.block_resolutions:
        p = f"synthesis.b{r}"
        mods = {}
        for name in ("conv0", "conv1") if r > 4 else ("conv1",):
            q = f"{p}.{name}"
            w = sd[f"{q}.weight"]
            mods[name] = _module(
                "SynthesisLayer",
                {"weight": w, "noise_strength": sd[f"{q}.noise_strength"], "bias": sd[f"{q}.bias"]},
                {"resample_filter": sd[f"{q}.resample_filter"], "noise_const": sd[f"{q}.noise_const"]},
                {"affine": _fc(sd, f"{q}.affine", bias_init=1)},
                {
                    "in_channels": w.shape[1],
                    "out_channels": w.shape[0],
                    "w_dim": c.w_dim,
                    "resolution": r,
                    "up": 2 if name == "conv0" else 1,
                    "conv_clamp": c.conv_clamp,
                },
                resolution=r,
                up=2 if name == "conv0" else 1,
                use_noise=True,
                activation="lrelu",
                conv_clamp=c.conv_clamp,
                padding=1,
                act_gain=np.float64(np.sqrt(2)),
            )
        t = f"{p}.torgb"
        if c.has_torgb(r):
            mods["torgb"] = _module(
                "ToRGBLayer",
                {"weight": sd[f"{t}.weight"], "bias": sd[f"{t}.bias"]},
                {},
                {"affine": _fc(sd, f"{t}.affine", bias_init=1)},
                {
                    "in_channels": c.nf(r),
                    "out_channels": c.img_channels,
                    "w_dim": c.w_dim,
                    "conv_clamp": c.conv_clamp,
                },
                conv_clamp=c.conv_clamp,
                weight_gain=np.float64(1 / np.sqrt(c.nf(r))),
            )
        if c.has_skip(r):
            w = sd[f"{p}.skip.weight"]
            mods["skip"] = _module(
                "Conv2dLayer",
                {"weight": w},
                {"resample_filter": sd[f"{p}.skip.resample_filter"]},
                {},
                {
                    "in_channels": w.shape[1],
                    "out_channels": w.shape[0],
                    "kernel_size": 1,
                    "bias": False,
                    "up": 2,
                    "resample_filter": [1, 3, 3, 1],
                },
                activation="linear",
                up=2,
                down=1,
                conv_clamp=None,
                padding=0,
                weight_gain=np.float64(1 / np.sqrt(w.shape[1])),
                act_gain=1.0,
                bias=None,
            )
        params = {"const": sd[f"{p}.const"]} if r == 4 else {}
        blocks[f"b{r}"] = _module(
            "SynthesisBlock",
            params,
            {"resample_filter": sd[f"{p}.resample_filter"]},
            mods,
            {
                "in_channels": c.nf(r // 2) if r > 4 else 0,
                "out_channels": c.nf(r),
                "w_dim": c.w_dim,
                "resolution": r,
                "img_channels": c.img_channels,
                "is_last": r == c.resolution,
                "architecture": c.architecture,
                "conv_clamp": c.conv_clamp,
                "use_fp16": False,
            },
            in_channels=c.nf(r // 2) if r > 4 else 0,
            resolution=r,
            is_last=r == c.resolution,
            num_conv=1 if r == 4 else 2,
            num_torgb=int(c.has_torgb(r)),
            use_fp16=False,
        )
    synthesis = _module(
        "SynthesisNetwork",
        {},
        {},
        blocks,
        {
            "w_dim": c.w_dim,
            "img_resolution": c.resolution,
            "img_channels": c.img_channels,
            **synthesis_kwargs,
        },
        w_dim=c.w_dim,
        img_resolution=c.resolution,
        num_ws=c.num_ws,
        block_resolutions=list(c.block_resolutions),
    )
    init_kwargs = {
        "z_dim": c.z_dim,
        "c_dim": c.c_dim,
        "w_dim": c.w_dim,
        "img_resolution": c.resolution,
        "img_channels": c.img_channels,
        "mapping_kwargs": _easydict(mapping_kwargs),
        "synthesis_kwargs": _easydict(synthesis_kwargs),
    }
    return _module(
        "Generator",
        {},
        {},
        {"synthesis": synthesis, "mapping": mapping},
        init_kwargs,
        z_dim=c.z_dim,
        c_dim=c.c_dim,
        w_dim=c.w_dim,
        img_resolution=c.resolution,
        img_channels=c.img_channels,
        num_ws=c.num_ws,
    )


def nvidia_pickle_bytes(G: StyleGAN2Generator) -> bytes:
    """Bytes of a network pickle in the stylegan2-ada-pytorch layout (``G``, ``G_ema``; no ``D``)."""
    tree = ada_pickle_tree(G)
    data = {"G": tree, "D": None, "G_ema": tree, "training_set_kwargs": None, "augment_pipe": None}
    buf = io.BytesIO()
    _Pickler(buf, protocol=4).dump(data)
    return buf.getvalue()


def save_nvidia_pickle(G: StyleGAN2Generator, path: str | Path) -> None:
    """Write a stylegan2-ada-pytorch style ``.pkl`` built without the official code.

    The persistent objects carry a placeholder instead of the module source, so the official
    ``legacy.load_network_pkl`` cannot rebuild classes from it; ganlens' restricted loader reads it.
    """
    data = nvidia_pickle_bytes(G)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# ---------------------------------------------------------------------- helpers shared by the loaders
def torch_load_safe(path: str | Path, *, allow: tuple = ()) -> Any:
    """``torch.load(weights_only=True)`` on the CPU; unreadable files raise :class:`CheckpointError`,
    disallowed globals :class:`UnsafePickleError` (nothing is executed either way)."""
    from ganlens.errors import CheckpointError, UnsafePickleError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        with torch.serialization.safe_globals(list(allow)):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = " ".join(str(e).split())
        if "unsupported global" in msg.lower():
            name = msg.split("GLOBAL", 1)[1].split()[0].rstrip(".:,") if "GLOBAL " in msg else "a global"
            raise UnsafePickleError(
                f"{str(path)!r} asks for {name}, which weights-only loading does not allow; "
                "nothing was executed"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {msg[:160]}") from None
    except Exception as e:  # torch raises many types for corrupt/truncated zips and pickles
        msg = " ".join(str(e).split())
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r} ({type(e).__name__}: {msg[:160]})"
        ) from None


def pop_filters(state: dict[str, Tensor], expected: dict[str, Tensor], *, source: str) -> None:
    """Remove the fixed FIR kernels from ``state`` after checking they are the ones we implement."""
    from ganlens.errors import CheckpointError

    for k, ref in expected.items():
        if k not in state:
            continue
        t = state.pop(k)
        if tuple(t.shape) != tuple(ref.shape) or not torch.allclose(t.float(), ref, atol=1e-6):
            raise CheckpointError(
                f"{source!r}: {k} is not the [1,3,3,1] filter; other filters are not supported"
            )


# ---------------------------------------------------------------------- TensorFlow-era StyleGAN2 layout
def to_tf_params(G: StyleGAN2Generator) -> dict[str, np.ndarray]:
    """Variables of the official TF ``Gs`` (``component/name`` → array), the inverse of ADA's converter.

    TF stores conv kernels as [k, k, in, out], dense weights as [in, out], the upsampling conv in the
    reference orientation (ADA flips it), affine biases without the +1 and noise maps as ``noise{i}``.
    """
    c: StyleGAN2Config = G.config
    if c.c_dim:
        raise GanlensError(
            f"the TF-era layout is written for unconditional generators only; this one has c_dim {c.c_dim} "
            "(export it as an NVIDIA pickle instead)"
        )
    sd = {k: v.detach().float().cpu() for k, v in G.state_dict().items()}
    out: dict[str, np.ndarray] = {"dlatent_avg": sd["mapping_network.w_avg"].numpy()}
    for i in range(c.mapping_layers):
        out[f"mapping/Dense{i}/weight"] = sd[f"mapping_network.fc{i}.weight"].t().numpy()
        out[f"mapping/Dense{i}/bias"] = sd[f"mapping_network.fc{i}.bias"].numpy()
    out["synthesis/4x4/Const/const"] = sd["synthesis_network.b4.const"][None].numpy()
    for j, (r, name) in enumerate(_layers(c)):
        o = _ours(r, name)
        tf = f"synthesis/{r}x{r}/" + ("Conv" if r == 4 else "Conv0_up" if name == "conv0" else "Conv1")
        w = sd[f"{o}.weight"].permute(2, 3, 1, 0)  # (k, k, in, out)
        out[f"{tf}/weight"] = (w.flip([0, 1]) if name == "conv0" else w).contiguous().numpy()
        out[f"{tf}/bias"] = sd[f"{o}.bias"].numpy()
        out[f"{tf}/noise_strength"] = sd[f"{o}.noise_strength"].numpy()
        out[f"{tf}/mod_weight"] = sd[f"{o}.affine.weight"].t().contiguous().numpy()
        out[f"{tf}/mod_bias"] = (sd[f"{o}.affine.bias"] - 1.0).numpy()
        out[f"synthesis/noise{j}"] = sd[f"{o}.noise_const"][None, None].numpy()
        if name == "conv1" and c.has_skip(r):  # (O, I, 1, 1) → (1, 1, I, O); a 1×1 kernel needs no flip
            out[f"synthesis/{r}x{r}/Skip/weight"] = (
                sd[f"{_ours(r, 'skip')}.weight"].permute(2, 3, 1, 0).contiguous().numpy()
            )
        if name == "conv1" and c.has_torgb(r):
            t, rgb = _ours(r, "torgb"), f"synthesis/{r}x{r}/ToRGB"
            out[f"{rgb}/weight"] = sd[f"{t}.weight"].permute(2, 3, 1, 0).contiguous().numpy()
            out[f"{rgb}/bias"] = sd[f"{t}.bias"].numpy()
            out[f"{rgb}/mod_weight"] = sd[f"{t}.affine.weight"].t().contiguous().numpy()
            out[f"{rgb}/mod_bias"] = (sd[f"{t}.affine.bias"] - 1.0).numpy()
    return out


def tf_static_kwargs(cfg: StyleGAN2Config) -> dict[str, Any]:
    """``static_kwargs`` of a TF ``Gs`` for this config (names as in the TF code)."""
    extra = {"conv_clamp": cfg.conv_clamp} if cfg.conv_clamp is not None else {}  # ADA's converter reads it
    return {
        **extra,
        "latent_size": cfg.z_dim,
        "dlatent_size": cfg.w_dim,
        "label_size": 0,
        "resolution": cfg.resolution,
        "num_channels": cfg.img_channels,
        "mapping_layers": cfg.mapping_layers,
        "mapping_lrmul": cfg.mapping_lr_mul,
        "fmap_base": cfg.channel_base // 2,
        "fmap_max": cfg.channel_max,
        "architecture": cfg.architecture,
    }


class _NewObj:
    """An object pickled as ``cls.__new__(cls)`` followed by ``BUILD state`` (how TF Networks pickle)."""

    def __init__(self, cls: _Global, state: dict) -> None:
        self.cls, self.state = cls, state


def _save_newobj(self: _Pickler, obj: _NewObj) -> None:
    self.save(obj.cls)
    self.save(())
    self.write(pickle.NEWOBJ)
    self.memoize(obj)
    self.save(obj.state)
    self.write(pickle.BUILD)


_Pickler.dispatch[_NewObj] = _save_newobj
_TF_NETWORK = _Global("dnnlib.tflib.network", "Network")


def _tf_network(name: str, variables: dict[str, np.ndarray], components: dict, static_kwargs: dict) -> Any:
    state = {
        "version": 4,
        "name": name,
        "static_kwargs": static_kwargs,
        "components": components,
        "build_module_src": "# written by ganlens.loaders.export: no source code\n",
        "build_func_name": f"{name}_main",
        "variables": list(variables.items()),
    }
    return _NewObj(_TF_NETWORK, state)


def tf_pickle_bytes(G: StyleGAN2Generator) -> bytes:
    """A TensorFlow-era ``(G, D, Gs)`` pickle in the official StyleGAN2 layout (D is empty)."""
    params = to_tf_params(G)
    comps = {}
    for comp in ("mapping", "synthesis"):
        var = {k.split("/", 1)[1]: v for k, v in params.items() if k.startswith(comp + "/")}
        comps[comp] = _tf_network(f"G_{comp}", var, {}, {})
    kw = tf_static_kwargs(G.config)
    gs = _tf_network("G", {"dlatent_avg": params["dlatent_avg"]}, comps, kw)
    d = _tf_network("D", {}, {}, {})
    buf = io.BytesIO()
    _Pickler(buf, protocol=3).dump((gs, d, gs))  # Python 3.6/3.7's default, as the TF-era files
    return buf.getvalue()


def save_tf_pickle(G: StyleGAN2Generator, path: str | Path) -> None:
    """Write :func:`tf_pickle_bytes` atomically (for tests and for users of TF-era tools)."""
    data = tf_pickle_bytes(G)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
