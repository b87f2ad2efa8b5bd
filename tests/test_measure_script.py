"""scripts/measure_toonfaces_model.sh (which steps run, what each runs, how it resumes) and the
``python -m ganlens`` it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "measure_toonfaces_model.sh"


@pytest.fixture
def fake_python(tmp_path) -> Path:
    """A stand-in interpreter that prints its arguments and fails for the pairs benchmark."""
    path = tmp_path / "python"
    path.write_text(
        '#!/bin/bash\necho "$@"\ncase "$*" in *toonfaces_pairs.py*) echo broken >&2; exit 3 ;; esac\n'
    )
    path.chmod(0o755)
    return path


def _measure(fake: Path, out: Path, only: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": str(fake), "ONLY": only, "THREADS": "3"}
    return subprocess.run(
        ["bash", str(SCRIPT), "my-model", str(out)], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_measure_script_runs_its_steps_keeps_failures_apart_and_resumes(fake_python, tmp_path):
    out = tmp_path / "m"
    run = _measure(fake_python, out, "fiveset pairs trunc")
    assert run.returncode == 1 and "failed: pairs (rerun to retry them" in run.stderr
    five = (out / "fiveset.txt").read_text()
    assert "benchmarks/toonfaces.py --model my-model --n 500 --repeats 5" in five and "--threads 3" in five
    assert "-m ganlens realism my-model" in (out / "trunc.txt").read_text()
    assert not (out / "pairs.txt").exists() and (out / "pairs.log").read_text() == "broken\n"
    assert not (out / "bench.txt").exists()  # not in ONLY

    (out / "fiveset.txt").write_text("kept\n")
    again = _measure(fake_python, out, "fiveset")
    assert again.returncode == 0 and "[fiveset] done before" in again.stdout
    assert (out / "fiveset.txt").read_text() == "kept\n"

    bad = _measure(fake_python, out, "fiveset trunks")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("unknown step 'trunks' in ONLY; the steps are: fiveset bench")


def test_python_m_ganlens_is_the_ganlens_command():
    """``python -m ganlens`` (what the script runs) answers like the ``ganlens`` entry point."""
    run = subprocess.run(
        [sys.executable, "-m", "ganlens", "realism", "--help"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and run.stdout.startswith("usage: ganlens realism")
