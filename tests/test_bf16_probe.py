"""``ganlens.utils.bf16``: the timing that tells whether --bf16 pays on this CPU, and its warning."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from ganlens.cli.main import main
from ganlens.errors import GanlensWarning
from ganlens.generators.stylegan import StyleGANConfig, StyleGANGenerator
from ganlens.utils import bf16


def test_speedup_is_a_real_timing_and_only_for_cpus():
    s = bf16.bf16_speedup("cpu", 1)
    assert math.isfinite(s) and s > 0
    assert bf16.bf16_speedup("cuda") == 1.0  # not timed: GPUs with bf16 autocast run it natively


@pytest.fixture
def slow_bf16(monkeypatch):
    monkeypatch.setattr(bf16, "bf16_speedup", lambda device_type="cpu", repeats=2: 0.05)
    monkeypatch.setattr(bf16, "cpu_bf16_flags", lambda: frozenset())


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 avx512_fp16\nmodel\t: 207\n")
    assert bf16.cpu_bf16_flags(str(info)) == {"avx512_bf16"}
    info.write_text("flags\t\t: fpu sse2 avx2\n")
    assert bf16.cpu_bf16_flags(str(info)) == frozenset()
    assert bf16.cpu_bf16_flags(str(tmp_path / "missing")) is None


def test_message_names_the_slow_down_or_stays_quiet(slow_bf16, monkeypatch):
    msg = bf16.bf16_slow_message("cpu")
    assert msg is not None and "20x slower than float32" in msg and "leave --bf16 out" in msg
    with pytest.warns(GanlensWarning, match="20x slower"):
        assert bf16.warn_if_bf16_slow(torch.device("cpu")) == msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bf16.warn_if_bf16_slow("cpu", enabled=False) is None  # no --bf16: no timing, no warning
        monkeypatch.setattr(bf16, "bf16_speedup", lambda device_type="cpu", repeats=2: 2.5)
        assert bf16.warn_if_bf16_slow("cpu") is None
    # a CPU that lists bf16 instructions and still loses (session 51's): named, without a false cause
    monkeypatch.setattr(bf16, "bf16_speedup", lambda device_type="cpu", repeats=2: 0.55)
    monkeypatch.setattr(bf16, "cpu_bf16_flags", lambda: frozenset({"avx512_bf16", "amx_bf16"}))
    msg = bf16.bf16_slow_message("cpu")
    assert "1.8x slower" in msg and "it lists AMX-BF16 and AVX512-BF16" in msg and "no native" not in msg
    # flags unknown (not Linux): the size of the slow-down decides the guess
    monkeypatch.setattr(bf16, "cpu_bf16_flags", lambda: None)
    monkeypatch.setattr(bf16, "bf16_speedup", lambda device_type="cpu", repeats=2: 0.7)
    assert "busy?" in bf16.bf16_slow_message("cpu")
    monkeypatch.setattr(bf16, "bf16_speedup", lambda device_type="cpu", repeats=2: 0.05)
    assert "no native bf16 instructions?" in bf16.bf16_slow_message("cpu")


def test_cli_prints_the_warning_as_one_line_and_carries_on(slow_bf16, tmp_path, capsys):
    G = StyleGANGenerator(
        StyleGANConfig(resolution=8, z_dim=8, w_dim=8, mapping_fmaps=8, fmaps_base=64, fmaps_max=8)
    )
    G.save_pretrained(str(tmp_path / "m"))
    rc = main(["generate", "--no-progress", "--model", str(tmp_path / "m"), "--seeds", "0",
               "--bf16", "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "out" / "seed0000.png").exists()
    lines = [line for line in err.splitlines() if "warning" in line]
    assert lines == [
        "ganlens generate: warning: --bf16: bfloat16 autocast runs 20x slower than float32 on this CPU "
        "(it has no native bf16 instructions); leave --bf16 out here"
    ]
