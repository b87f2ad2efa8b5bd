"""NVIDIA network pickles (stylegan2-ada-pytorch, stylegan3) read without executing anything (SPEC §2.1).

Official pickles store each network as a call to ``torch_utils.persistence._reconstruct_persistent_obj``
with the *source code* of its module, which the official loader executes. Here a restricted
:class:`pickle.Unpickler` resolves only an allow-list of globals; persistent objects become
:class:`PersistentStandIn` records (class name, version, state, sha256 of the source; the source
is never run). ``G_ema`` is then rebuilt from its ``init_kwargs`` as a ganlens
:class:`~ganlens.generators.stylegan2.StyleGAN2Generator` and loaded strictly.

Legacy TensorFlow pickles (``dnnlib.tflib.network.Network`` tuples, e.g. ``stylegan2-ffhq-config-f.pkl``)
are parsed the same way (numpy arrays allowed) and ``Gs`` is converted with the rules of ADA's
``legacy.py`` (SPEC §2.4). StyleGAN3 pickles are parsed and refused with a clear message.
"""

from __future__ import annotations

import codecs
import collections
import hashlib
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganlens.errors import CheckpointError, GanlensError, UnsafePickleError
from ganlens.generators.fir import setup_filter
from ganlens.generators.native import load_state_dict_strict
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ganlens.loaders.export import ada_keymap, import_state


@dataclass
class PersistentStandIn:
    """A persistent network object from an NVIDIA pickle, as data only."""

    class_name: str
    version: int
    state: dict[str, Any]
    module_src_sha256: str

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    def children(self) -> dict[str, PersistentStandIn]:
        mods = self.state.get("_modules") or {}
        return {k: v for k, v in mods.items() if isinstance(v, PersistentStandIn)}

    def walk(self, prefix: str = ""):
        """Yield (dotted name, stand-in) for this object and all persistent submodules."""
        yield prefix, self
        for name, child in self.children().items():
            yield from child.walk(f"{prefix}.{name}" if prefix else name)

    def state_dict(self) -> dict[str, Tensor]:
        """Parameters and persistent buffers, with dotted names, like ``nn.Module.state_dict()``."""
        out: dict[str, Tensor] = {}
        for prefix, obj in self.walk():
            p = f"{prefix}." if prefix else ""
            skip = set(obj.state.get("_non_persistent_buffers_set") or ())
            for name, t in (obj.state.get("_parameters") or {}).items():
                if t is not None:
                    out[p + name] = t.detach()
            for name, t in (obj.state.get("_buffers") or {}).items():
                if t is not None and name not in skip:
                    out[p + name] = t.detach()
            mods = obj.state.get("_modules") or {}
            bad = [k for k, v in mods.items() if v is not None and not isinstance(v, PersistentStandIn)]
            if bad:
                raise CheckpointError(
                    f"submodule {p + bad[0]!r} of the pickle is not a persistent network object"
                )
        return out


@dataclass
class TFNetworkStandIn:
    """A legacy ``dnnlib.tflib.network.Network`` from a TensorFlow-era pickle (data only)."""

    state: dict[str, Any] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _EasyDict(dict):
    """``dnnlib.util.EasyDict`` stand-in; accepts a BUILD state like the real one."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _reconstruct_persistent_obj(meta: Any) -> PersistentStandIn:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointError("a persistent object in the pickle has no class metadata")
    src = meta.get("module_src") or ""
    return PersistentStandIn(
        class_name=str(meta.get("class_name")),
        version=int(meta.get("version", 0)),
        state=dict(meta["state"]),
        module_src_sha256=hashlib.sha256(str(src).encode("utf-8")).hexdigest(),
    )


def _load_from_bytes(b: bytes) -> Any:
    """Serialized storages inside pickled tensors, read with ``weights_only=True``."""
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


def _numpy_scalar(dtype: np.dtype, *args: Any) -> Any:
    if dtype.hasobject:
        raise UnsafePickleError("the pickle holds a numpy object scalar, which is not allowed")
    return _np_core().multiarray.scalar(dtype, *args)


def _numpy_dtype(*args: Any) -> np.dtype:
    d = np.dtype(*args)
    if d.hasobject:
        raise UnsafePickleError("the pickle holds a numpy object dtype, which is not allowed")
    return d


def _np_core():
    core = getattr(np, "_core", None)
    return core if core is not None and hasattr(core, "multiarray") else np.core


def _allowed_globals() -> dict[tuple[str, str], Any]:
    from torch import _utils as tu

    allowed: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("dnnlib.tflib.network", "Network"): TFNetworkStandIn,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles (a pure data transform)
    }
    for name in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
    ):
        if hasattr(tu, name):
            allowed[("torch._utils", name)] = getattr(tu, name)
    for dt in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"):
        allowed[("torch", dt)] = getattr(torch, dt)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "scalar")] = _numpy_scalar
        allowed[(mod, "_reconstruct")] = _np_core().multiarray._reconstruct
    allowed[("numpy", "dtype")] = _numpy_dtype
    allowed[("numpy", "ndarray")] = np.ndarray
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; anything else raises :class:`UnsafePickleError`."""

    def __init__(self, file: Any, *, source: str) -> None:
        super().__init__(file)
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        obj = self._allowed.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"{self._source!r} asks for {module}.{name}, which is not on the allow-list of network "
                "pickles; nothing was executed"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source!r} uses persistent ids, which network pickles never do")


def read_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; corrupt files raise :class:`CheckpointError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=str(path)).load()
    except GanlensError:
        raise
    except Exception as e:  # corrupt or truncated pickles raise many types (EOFError, UnpicklingError, ...)
        raise CheckpointError(
            f"{str(path)!r} is not a readable network pickle "
            f"({type(e).__name__}: {' '.join(str(e).split())[:120]})"
        ) from None


@dataclass
class NetworkPickle:
    """What an ADA/StyleGAN3 pickle holds, as data: the persistent stand-ins by key."""

    networks: dict[str, PersistentStandIn]
    extras: dict[str, Any]

    @property
    def G_ema(self) -> PersistentStandIn:  # noqa: N802 (the official key)
        return self.networks["G_ema"]


def read_network_pickle(path: str | Path) -> NetworkPickle:
    """Parse an NVIDIA network pickle into stand-ins (no code runs). Raises for TF-era pickles."""
    return _as_network_pickle(read_pickle(path), source=str(path))


def _as_network_pickle(obj: Any, *, source: str) -> NetworkPickle:
    path = source
    if isinstance(obj, tuple) and any(isinstance(o, TFNetworkStandIn) for o in obj):
        raise CheckpointError(f"{str(path)!r} is a TensorFlow-era pickle; read it with read_tf_pickle")
    if not isinstance(obj, dict) or not isinstance(obj.get("G_ema"), PersistentStandIn):
        keys = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{str(path)!r} is not a network pickle with a 'G_ema' network (found {keys})")
    nets = {k: v for k, v in obj.items() if isinstance(v, PersistentStandIn)}
    return NetworkPickle(networks=nets, extras={k: v for k, v in obj.items() if k not in nets})


_GENERATOR_ARGS = (
    "z_dim",
    "c_dim",
    "w_dim",
    "img_resolution",
    "img_channels",
    "mapping_kwargs",
    "synthesis_kwargs",
)
_MAPPING_KEYS = {
    "num_layers",
    "lr_multiplier",
    "w_avg_beta",
    "activation",
    "layer_features",
    "embed_features",
}
_SYNTHESIS_KEYS = {
    "channel_base",
    "channel_max",
    "num_fp16_res",
    "conv_clamp",
    "architecture",
    "resample_filter",
    "use_noise",
    "fp16_channels_last",
    "kernel_size",
    "fused_modconv_default",
}


def config_from_init_kwargs(net: PersistentStandIn, *, source: str) -> StyleGAN2Config:
    """Rebuild the StyleGAN2 config from ``G_ema``'s constructor arguments."""
    kw = dict(zip(_GENERATOR_ARGS, net.init_args))
    kw.update(net.init_kwargs)
    missing = [k for k in ("z_dim", "w_dim", "img_resolution") if k not in kw]
    if missing:
        raise CheckpointError(f"{source!r}: G_ema init_kwargs lack {missing}; cannot rebuild the generator")
    mk = dict(kw.get("mapping_kwargs") or {})
    # ADA nests synthesis settings in synthesis_kwargs; stylegan3's networks_stylegan2 takes them flat.
    sk = {k: v for k, v in kw.items() if k not in _GENERATOR_ARGS}
    sk.update(kw.get("synthesis_kwargs") or {})
    unknown = sorted(set(mk) - _MAPPING_KEYS) + sorted(set(sk) - _SYNTHESIS_KEYS)
    if unknown:
        raise CheckpointError(f"{source!r}: unsupported generator settings {unknown}")
    if (
        mk.get("activation", "lrelu") != "lrelu"
        or mk.get("layer_features") not in (None, kw["w_dim"])
        or mk.get("embed_features") not in (None, kw["w_dim"])
    ):
        raise CheckpointError(
            f"{source!r}: mapping settings {mk} are not supported "
            "(need lrelu, layer_features = embed_features = w_dim)"
        )
    if list(sk.get("resample_filter", [1, 3, 3, 1])) != [1, 3, 3, 1] or sk.get("use_noise", True) is not True:
        raise CheckpointError(
            f"{source!r}: synthesis settings {sk} are not supported (need the [1,3,3,1] filter, noise)"
        )
    if sk.get("kernel_size", 3) != 3:
        raise CheckpointError(f"{source!r}: kernel_size {sk['kernel_size']} is not supported (need 3)")
    try:
        return StyleGAN2Config(
            resolution=int(kw["img_resolution"]),
            z_dim=int(kw["z_dim"]),
            w_dim=int(kw["w_dim"]),
            img_channels=int(kw.get("img_channels", 3)),
            mapping_layers=int(mk.get("num_layers", 8)),
            mapping_lr_mul=float(mk.get("lr_multiplier", 0.01)),
            w_avg_beta=float(mk["w_avg_beta"]) if mk.get("w_avg_beta") is not None else 0.995,
            channel_base=int(sk.get("channel_base", 32768)),
            channel_max=int(sk.get("channel_max", 512)),
            conv_clamp=float(sk["conv_clamp"]) if sk.get("conv_clamp") is not None else None,
            architecture=str(sk.get("architecture", "skip")),
            c_dim=int(kw.get("c_dim", 0) or 0),
        )
    except GanlensError as e:
        raise CheckpointError(f"{source!r}: {e}") from None


# ---------------------------------------------------------------------- TensorFlow-era pickles
_TF_KWARGS = {
    "latent_size",
    "label_size",
    "dlatent_size",
    "resolution",
    "num_channels",
    "mapping_layers",
    "label_fmaps",
    "mapping_fmaps",
    "mapping_nonlinearity",
    "mapping_lrmul",
    "w_avg_beta",
    "fmap_base",
    "fmap_max",
    "num_fp16_res",
    "conv_clamp",
    "architecture",
    "resample_kernel",
    "use_noise",
    "nonlinearity",
    "truncation_psi",
    "truncation_cutoff",
    "style_mixing_prob",
    "structure",
    "dtype",
    "is_template_graph",
    "components",
    "randomize_noise",
    "fused_modconv",
    "mapping_dtype",
}


def tf_params(net: TFNetworkStandIn, prefix: str = "") -> dict[str, np.ndarray]:
    """All variables of a TF network and its components, as ``component/name`` → array."""
    out: dict[str, np.ndarray] = {}
    for name, value in net.state.get("variables") or []:
        out[prefix + str(name)] = np.asarray(value)
    for name, comp in (net.state.get("components") or {}).items():
        if isinstance(comp, TFNetworkStandIn):
            out.update(tf_params(comp, f"{prefix}{name}/"))
    return out


def stylegan2_from_tf(gs: TFNetworkStandIn, *, source: str) -> StyleGAN2Generator:
    """Convert the TF ``Gs`` of an official StyleGAN2 pickle (rules of ADA's ``legacy.py``)."""
    st = gs.state
    if int(st.get("version", 0)) < 4:
        raise CheckpointError(
            f"{source!r}: TensorFlow network version {st.get('version')} is too old (need 4)"
        )
    params = tf_params(gs)
    if "synthesis/4x4/Conv/mod_weight" not in params:
        kind = "StyleGAN (v1)" if any("StyleMod" in k for k in params) else "this"
        raise CheckpointError(
            f"{source!r}: {kind} TensorFlow pickle is not supported; only StyleGAN2 (config E/F)"
        )
    kw = dict(st.get("static_kwargs") or {})
    unknown = sorted(set(kw) - _TF_KWARGS)
    if unknown:
        raise CheckpointError(f"{source!r}: unknown TensorFlow generator settings {unknown}")
    if int(kw.get("label_size", 0) or 0):
        raise CheckpointError(
            f"{source!r}: conditional TensorFlow pickles (label_size {kw['label_size']}) are not supported; "
            "conditional stylegan2-ada-pytorch pickles are"
        )
    architecture = kw.get("architecture", "skip")
    lods = [k for k in params if k.startswith("synthesis/ToRGB_lod")]
    if lods:
        # configs B–D (G_synthesis_stylegan_revised): progressive-growing ToRGBs; fully grown, only
        # ToRGB_lod0 (full resolution) reaches the output, which is the 'orig' architecture
        lod = float(np.asarray(params.get("synthesis/lod", 0.0)))
        if lod != 0.0:
            raise CheckpointError(
                f"{source!r}: the network stopped mid-growth (lod {lod:g}); only fully grown ones (lod 0) load"
            )
        res = int(kw.get("resolution", 1024))
        for k in [k for k in lods if k.startswith("synthesis/ToRGB_lod0/")]:
            params[f"synthesis/{res}x{res}/ToRGB/" + k.split("/", 2)[2]] = params[k]
        for k in lods + ["synthesis/lod"]:
            params.pop(k, None)
        architecture = "orig"
    fake = PersistentStandIn(
        "Generator",
        6,
        {
            "_init_kwargs": {
                "z_dim": kw.get("latent_size", 512),
                "c_dim": kw.get("label_size", 0),
                "w_dim": kw.get("dlatent_size", 512),
                "img_resolution": kw.get("resolution", 1024),
                "img_channels": kw.get("num_channels", 3),
                "mapping_kwargs": {
                    "num_layers": kw.get("mapping_layers", 8),
                    "lr_multiplier": kw.get("mapping_lrmul", 0.01),
                    "activation": kw.get("mapping_nonlinearity", "lrelu"),
                    "layer_features": kw.get("mapping_fmaps"),
                },
                "synthesis_kwargs": {
                    "channel_base": int(kw.get("fmap_base", 16384)) * 2,
                    "channel_max": kw.get("fmap_max", 512),
                    "conv_clamp": kw.get("conv_clamp"),
                    "architecture": architecture,
                    "resample_filter": list(kw.get("resample_kernel", [1, 3, 3, 1])),
                },
            }
        },
        "",
    )
    cfg = config_from_init_kwargs(fake, source=source)
    G = StyleGAN2Generator(cfg)
    t = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in params.items()}
    ours: dict[str, Tensor] = {}
    try:
        ours["mapping_network.w_avg"] = t["dlatent_avg"]
        for i in range(cfg.mapping_layers):
            ours[f"mapping_network.fc{i}.weight"] = t[f"mapping/Dense{i}/weight"].t()
            ours[f"mapping_network.fc{i}.bias"] = t[f"mapping/Dense{i}/bias"]
        ours["synthesis_network.b4.const"] = t["synthesis/4x4/Const/const"][0]
        for j, (r, name) in enumerate(G.synthesis_network.layers):
            o = f"synthesis_network.b{r}.{name}"
            tf = f"synthesis/{r}x{r}/" + ("Conv" if r == 4 else "Conv0_up" if name == "conv0" else "Conv1")
            w = t[f"{tf}/weight"]  # (k, k, in, out); the upsampling conv is flipped into ADA's orientation
            ours[f"{o}.weight"] = (w.flip([0, 1]) if name == "conv0" else w).permute(3, 2, 0, 1)
            ours[f"{o}.bias"] = t[f"{tf}/bias"]
            ours[f"{o}.noise_strength"] = t[f"{tf}/noise_strength"].reshape(())
            ours[f"{o}.affine.weight"] = t[f"{tf}/mod_weight"].t()
            ours[f"{o}.affine.bias"] = t[f"{tf}/mod_bias"] + 1.0
            ours[f"{o}.noise_const"] = t[f"synthesis/noise{j}"][0, 0]
            if name == "conv1" and cfg.has_skip(r):  # (1, 1, I, O) → (O, I, 1, 1)
                ours[f"synthesis_network.b{r}.skip.weight"] = t[f"synthesis/{r}x{r}/Skip/weight"].permute(
                    3, 2, 0, 1
                )
            if name == "conv1" and cfg.has_torgb(r):
                q, rgb = f"synthesis_network.b{r}.torgb", f"synthesis/{r}x{r}/ToRGB"
                ours[f"{q}.weight"] = t[f"{rgb}/weight"].permute(3, 2, 0, 1)
                ours[f"{q}.bias"] = t[f"{rgb}/bias"]
                ours[f"{q}.affine.weight"] = t[f"{rgb}/mod_weight"].t()
                ours[f"{q}.affine.bias"] = t[f"{rgb}/mod_bias"] + 1.0
    except KeyError as e:
        raise CheckpointError(f"{source!r}: TensorFlow variable {e.args[0]!r} is missing") from None
    load_state_dict_strict(G, {k: v.contiguous() for k, v in ours.items()}, source=source)
    return G.eval().requires_grad_(False)


def _state_without_filters(net: PersistentStandIn, *, source: str) -> dict[str, Tensor]:
    """``net``'s tensors less ADA's ``resample_filter`` buffers, each checked to be the [1,3,3,1] one."""
    state = net.state_dict()
    filt = setup_filter()
    for k in [k for k in state if k.endswith("resample_filter")]:
        if tuple(state[k].shape) != (4, 4) or not torch.allclose(state[k].float(), filt, atol=1e-6):
            raise CheckpointError(
                f"{source!r}: {k} is not the [1,3,3,1] filter; other filters are not supported"
            )
        del state[k]
    return state


def _is_stylegan3(net: PersistentStandIn) -> bool:
    return any(obj.class_name == "SynthesisInput" for _, obj in net.walk())


def load_nvidia_pickle(path: str | Path) -> StyleGAN2Generator:
    """Load ``G_ema`` of a stylegan2-ada-pytorch pickle as a StyleGAN2 generator (CPU, eval).

    Raises:
        UnsafePickleError: the pickle asks for a global outside the allow-list (nothing ran).
        CheckpointError: corrupt/truncated file, StyleGAN3 or TensorFlow pickle, unsupported settings,
            or weights that do not fit the rebuilt architecture.
    """
    return _generator_from(read_pickle(path), source=str(path))


def load_nvidia_networks(path: str | Path):
    """``(G, D)`` of a network pickle, read once: :func:`load_nvidia_pickle` and
    :func:`load_nvidia_discriminator` (D may be None)."""
    source = str(path)
    obj = read_pickle(path)
    return _generator_from(obj, source=source), _discriminator_from(obj, source=source)


def _generator_from(obj: Any, *, source: str) -> StyleGAN2Generator:
    if isinstance(obj, tuple) and len(obj) == 3 and isinstance(obj[2], TFNetworkStandIn):
        return stylegan2_from_tf(obj[2], source=source)  # (G, D, Gs): Gs holds the EMA weights
    pkl = _as_network_pickle(obj, source=source)
    net = pkl.G_ema
    if _is_stylegan3(net):
        raise CheckpointError(f"{source!r} is a StyleGAN3 pickle; StyleGAN3 pickles are not supported yet")
    if net.class_name != "Generator":
        raise CheckpointError(f"{source!r}: G_ema is a {net.class_name!r}, expected a StyleGAN2 'Generator'")
    cfg = config_from_init_kwargs(net, source=source)
    state = _state_without_filters(net, source=source)
    G = StyleGAN2Generator(cfg)
    keymap = ada_keymap(cfg)
    known = {theirs for _, theirs, _ in keymap}
    unexpected = sorted(set(state) - known)
    if unexpected:
        raise CheckpointError(
            f"{source!r}: G_ema has tensors the StyleGAN2 layout does not: {unexpected[:5]}"
        )
    load_state_dict_strict(G, import_state(cfg, state, keymap), source=source)
    return G.eval().requires_grad_(False)


# ---------------------------------------------------------------------- the discriminator of an ADA pickle
_DISCRIMINATOR_ARGS = ("c_dim", "img_resolution", "img_channels")
_DISCRIMINATOR_KEYS = {
    "channel_base",
    "channel_max",
    "num_fp16_res",
    "conv_clamp",
    "architecture",
    "cmap_dim",
    "block_kwargs",
    "mapping_kwargs",
    "epilogue_kwargs",
}


def load_nvidia_discriminator(path: str | Path):
    """The ``D`` of a stylegan2-ada-pytorch pickle as a :class:`StyleGAN2Discriminator` (CPU, eval),
    or None when the pickle holds none (``D`` missing or None, as in ganlens' own exports) or is a
    TensorFlow-era one (its D is not converted).

    ADA's default ``resnet`` D is supported, unconditional or conditional (the projection D: its
    label ``mapping`` network and ``cmap_dim``); its tensors carry the same names as ours.

    Raises:
        CheckpointError: a non-resnet D, unsupported settings, or weights that do not fit (plus
            everything :func:`read_pickle` raises).
    """
    return _discriminator_from(read_pickle(path), source=str(path))


def _discriminator_from(obj: Any, *, source: str):
    from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator

    if isinstance(obj, tuple) and any(isinstance(o, TFNetworkStandIn) for o in obj):
        return None  # a TF-era (G, D, Gs): its D is a TF graph we do not convert
    net = _as_network_pickle(obj, source=source).networks.get("D")
    if net is None:
        return None
    if net.class_name != "Discriminator":
        raise CheckpointError(f"{source!r}: D is a {net.class_name!r}, expected a StyleGAN2 'Discriminator'")
    kw = dict(zip(_DISCRIMINATOR_ARGS, net.init_args))
    kw.update(net.init_kwargs)
    unknown = sorted(set(kw) - set(_DISCRIMINATOR_ARGS) - _DISCRIMINATOR_KEYS)
    block = dict(kw.get("block_kwargs") or {})
    epilogue = dict(kw.get("epilogue_kwargs") or {})
    mapping = dict(kw.get("mapping_kwargs") or {})
    unknown += sorted(set(block) - {"freeze_layers"}) + sorted(
        set(epilogue) - {"mbstd_group_size", "mbstd_num_channels"}
    )
    unknown += sorted(set(mapping) - {"num_layers"})
    if unknown:
        raise CheckpointError(f"{source!r}: unsupported discriminator settings {unknown}")
    hint = "; start from the generator alone (`ganlens convert` it to a ganlens folder) for a fresh D"
    if kw.get("architecture", "resnet") != "resnet":
        raise CheckpointError(
            f"{source!r}: its D has the {kw['architecture']!r} architecture; only ADA's default 'resnet' "
            f"is supported{hint}"
        )
    try:
        cfg = DiscriminatorConfig(
            resolution=int(kw["img_resolution"]),
            img_channels=int(kw.get("img_channels", 3)),
            channel_base=int(kw.get("channel_base", 32768)),
            channel_max=int(kw.get("channel_max", 512)),
            mbstd_group_size=int(epilogue.get("mbstd_group_size", 4)),  # None (the whole batch): refused
            mbstd_num_channels=int(epilogue.get("mbstd_num_channels", 1)),
            conv_clamp=float(kw["conv_clamp"]) if kw.get("conv_clamp") is not None else None,
            c_dim=int(kw.get("c_dim", 0) or 0),
            cmap_dim=int(kw["cmap_dim"]) if kw.get("cmap_dim") else None,
            mapping_layers=int(mapping.get("num_layers", 8)),
        )
    except (KeyError, TypeError, ValueError, GanlensError) as e:
        raise CheckpointError(f"{source!r}: cannot rebuild its discriminator ({e})") from None
    state = _state_without_filters(net, source=source)
    D = StyleGAN2Discriminator(cfg)
    load_state_dict_strict(D, {k: v.float().contiguous() for k, v in state.items()}, source=source)
    return D.eval().requires_grad_(False)
