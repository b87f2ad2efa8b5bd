"""Checkpoint loaders never execute code: unsafe globals are refused before anything runs."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from ganlens.errors import CheckpointError, UnsafePickleError
from ganlens.generators.native import load_generator
from ganlens.loaders import export
from ganlens.loaders.genforce import load_genforce
from ganlens.loaders.nvidia import load_nvidia_pickle
from ganlens.loaders.rosinality import load_rosinality

FIX = Path(__file__).parent / "fixtures" / "stylegan2"


class _SystemCall:
    """Pickles as ``os.system(cmd)``: what a malicious checkpoint does."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _global_call_pickle(module: str, name: str, arg: str) -> bytes:
    """Protocol-0 pickle calling ``module.name(arg)`` (works for names that are not importable here)."""
    return f"c{module}\n{name}\n(V{arg}\ntR.".encode()


@pytest.fixture
def sentinel(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "code from a checkpoint was executed"


def test_os_system_pickle_is_refused(tmp_path, sentinel):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"G_ema": _SystemCall(f"touch {sentinel}")}))
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        load_nvidia_pickle(p)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("subprocess", "Popen"),
        ("torch_utils.persistence", "_src_to_module"),
        ("torch", "load"),
        ("numpy", "load"),
        ("pickle", "loads"),
    ],
)
def test_any_global_outside_the_allow_list_is_refused(tmp_path, sentinel, module, name):
    p = tmp_path / "evil.pkl"
    p.write_bytes(_global_call_pickle(module, name, f"open({str(sentinel)!r}, 'w')"))
    with pytest.raises(UnsafePickleError) as e:
        load_nvidia_pickle(p)
    assert f"{module}.{name}" in str(e.value)
    assert isinstance(e.value, CheckpointError)


def test_module_src_is_never_executed(tmp_path, sentinel):
    """A persistent object's embedded source would run under the official loader; here it is only hashed."""
    G = load_generator(FIX)
    tree = export.ada_pickle_tree(G)
    tree.args[0]["module_src"] = f"open({str(sentinel)!r}, 'w').write('ran')\n"
    buf = io.BytesIO()
    export._Pickler(buf, protocol=4).dump({"G_ema": tree})
    (tmp_path / "src.pkl").write_bytes(buf.getvalue())
    H = load_nvidia_pickle(tmp_path / "src.pkl")
    assert torch.equal(H.w_avg, G.w_avg)


def test_numpy_object_arrays_are_refused(tmp_path):
    import numpy as np

    p = tmp_path / "obj.pkl"
    p.write_bytes(pickle.dumps({"G_ema": np.array([1, "a"], dtype=object)}))
    with pytest.raises(UnsafePickleError, match="object"):
        load_nvidia_pickle(p)


@pytest.mark.parametrize(("loader", "suffix"), [(load_rosinality, ".pt"), (load_genforce, ".pth")])
def test_torch_files_with_code_are_refused(tmp_path, sentinel, loader, suffix):
    p = tmp_path / f"evil{suffix}"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "x": _SystemCall(f"touch {sentinel}")}, p)
    with pytest.raises(UnsafePickleError, match="system"):
        loader(p)


def test_stylegan3_pickle_gives_a_clear_error(tmp_path):
    mod = export._module
    inp = mod("SynthesisInput", {"weight": torch.zeros(4, 4)}, {}, {}, {"w_dim": 4, "channels": 4})
    layer = mod("SynthesisLayer", {"weight": torch.zeros(4, 4, 3, 3)}, {}, {}, {})
    synthesis = mod("SynthesisNetwork", {}, {}, {"input": inp, "L0_36_4": layer}, {"w_dim": 4})
    G = mod(
        "Generator",
        {},
        {},
        {"synthesis": synthesis},
        {"z_dim": 4, "c_dim": 0, "w_dim": 4, "img_resolution": 16},
    )
    buf = io.BytesIO()
    export._Pickler(buf, protocol=4).dump({"G": G, "D": None, "G_ema": G, "augment_pipe": None})
    (tmp_path / "sg3.pkl").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="StyleGAN3 pickles are not supported yet") as e:
        load_nvidia_pickle(tmp_path / "sg3.pkl")
    assert "\n" not in str(e.value)


def test_tensorflow_pickle_gives_a_clear_error(tmp_path):
    net = export._Reduce(export._Global("dnnlib.tflib.network", "Network"), ())
    buf = io.BytesIO()
    export._Pickler(buf, protocol=2).dump((net, net, net))
    (tmp_path / "tf.pkl").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="TensorFlow"):
        load_nvidia_pickle(tmp_path / "tf.pkl")
