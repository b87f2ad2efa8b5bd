"""Bad model files through the CLI: always one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganlens.cli.main import main
from ganlens.generators.dcgan import DCGANConfig, DCGANGenerator

# suffix -> the loader module that must exist for the case to be meaningful
LOADER_FOR = {".pkl": "nvidia", ".pt": "rosinality", ".pth": "genforce", ".tar": "digiface"}


def _need_loader(suffix: str) -> None:
    mod = LOADER_FOR.get(suffix)
    if mod and importlib.util.find_spec(f"ganlens.loaders.{mod}") is None:
        pytest.skip(f"ganlens.loaders.{mod} (loader for {suffix}) does not exist yet")


def run_cli(capsys, model: str, out: Path) -> str:
    rc = main(["generate", "--no-progress", "--model", model, "--seeds", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert err.startswith("ganlens generate: error: ") and err.count("\n") == 1, err
    return err


def tiny_model(tmp_path: Path) -> Path:
    G = DCGANGenerator(DCGANConfig(resolution=16, z_dim=8, ngf=4))
    G.save_pretrained(str(tmp_path / "good"))
    return tmp_path / "good"


@pytest.mark.parametrize("suffix", [".pkl", ".pt", ".pth", ".tar"])
def test_random_bytes(tmp_path, capsys, suffix):
    _need_loader(suffix)
    path = tmp_path / f"random{suffix}"
    path.write_bytes(os.urandom(3000))
    err = run_cli(capsys, str(path), tmp_path / "o")
    assert path.name in err


@pytest.mark.parametrize("suffix", [".pkl", ".pt", ".pth", ".tar"])
def test_truncated_torch_file(tmp_path, capsys, suffix):
    _need_loader(suffix)
    whole = tmp_path / "whole.bin"
    torch.save({"g_ema": {"w": torch.randn(64, 64)}, "generator": {"w": torch.randn(8)}}, whole)
    data = whole.read_bytes()
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(data[: len(data) // 2])
    run_cli(capsys, str(path), tmp_path / "o")


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".tar"])
def test_valid_torch_file_of_the_wrong_kind(tmp_path, capsys, suffix):
    _need_loader(suffix)
    path = tmp_path / f"other{suffix}"
    torch.save({"optimizer": {"lr": torch.tensor(0.1)}}, path)
    run_cli(capsys, str(path), tmp_path / "o")


def test_wrong_suffix(tmp_path, capsys):
    path = tmp_path / "model.txt"
    path.write_text("not a model")
    err = run_cli(capsys, str(path), tmp_path / "o")
    assert "'.txt'" in err


def test_unknown_name(tmp_path, capsys):
    err = run_cli(capsys, "stylegan-ffhq-9000", tmp_path / "o")
    assert "'stylegan-ffhq-9000'" in err


def test_folder_without_config(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = run_cli(capsys, str(tmp_path / "empty"), tmp_path / "o")
    assert "config.json" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"resolution": 16}', "no 'arch'"),
        ('{"arch": "biggan"}', "unknown architecture 'biggan'"),
        ('{"arch": "dcgan", "resolution": 48}', "resolution 48"),
        ('{"arch": "dcgan", "resolution": 16, "colour": 1}', "unknown config fields"),
    ],
)
def test_bad_config_json(tmp_path, capsys, text, message):
    d = tiny_model(tmp_path)
    (d / "config.json").write_text(text)
    err = run_cli(capsys, str(d), tmp_path / "o")
    assert message in err


def test_bad_weights(tmp_path, capsys):
    d = tiny_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "ngf": 8}))  # shapes no longer fit
    assert "shape" in run_cli(capsys, str(d), tmp_path / "o1")
    (d / "model.safetensors").write_bytes(os.urandom(500))
    assert "cannot read weights" in run_cli(capsys, str(d), tmp_path / "o2")
    (d / "model.safetensors").unlink()
    (d / "config.json").write_text(json.dumps(cfg))
    assert "model.safetensors" in run_cli(capsys, str(d), tmp_path / "o3")


def test_real_subprocess(tmp_path):
    _need_loader(".pkl")
    path = tmp_path / "broken.pkl"
    path.write_bytes(b"\x80\x04" + os.urandom(100))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganlens.cli.main",
            "generate",
            "--model",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ganlens generate: error:") and proc.stderr.count("\n") == 1
