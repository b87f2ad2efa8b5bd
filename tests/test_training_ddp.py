"""``ganlens train stylegan2`` under torchrun with 2 CPU processes (gloo): a conditional run trains, keeps the
ranks' weights identical (gradients all-reduced), writes one checkpoint from rank 0 and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fixtures.training import TINY_G_ARGS
from ganlens.training.checkpoint import latest_checkpoint

# Both CLI calls run inside the same two torchrun processes (one start-up instead of two): the
# first trains 2 steps, the second resumes from its checkpoint for 2 more.
SCRIPT = """
import sys
from ganlens.cli.main import main
args = sys.argv[1:]
assert main([*args, "--kimg", "0.016"]) == 0
assert main([*args, "--kimg", "0.032"]) == 0
"""


def _torchrun(script, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _failure_report(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("Traceback")]
    worker = "\n".join(lines[starts[0] : starts[0] + 60]) if starts else "(no worker traceback)"
    return f"exit {proc.returncode}\n{worker}\n...\n{proc.stderr[-1500:]}\nstdout tail:\n{proc.stdout[-800:]}"


@pytest.mark.slow
def test_two_process_training_and_resume(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (16, 16, 16, 3)).astype(np.uint8)
    np.savez(tmp_path / "data.npz", images=images, labels=np.arange(16) % 3)  # each rank its own labels too
    run = tmp_path / "run"
    args = [
        "train",
        "stylegan2",
        "--data",
        str(tmp_path / "data.npz"),
        "--res",
        "16",
        "--out",
        str(run),
        "--batch",
        "8",
        *TINY_G_ARGS,
        "--tick-kimg",
        "0.008",
        "--snapshot-kimg",
        "0.016",
        "--threads",
        "1",
        "--bf16",  # as the shipped run trains: bf16 autocast on channels-last tensors
        *("--aug", "ada", "--aug-p", "0.3", "--ada-kimg", "0.05"),  # r_t all-reduced over the ranks
        *("--lowres-d", "8"),  # D_low's gradients are all-reduced too: the in-sync check covers it
        "--cond",  # conditional G, D and D_low (the label networks are in the in-sync check)
        "--no-progress",
        "--resume",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    script = tmp_path / "two_runs.py"
    script.write_text(SCRIPT)
    t0 = time.perf_counter()
    proc = _torchrun(script, args, env)
    # on failure show the workers' own tracebacks, which come before torchrun's summary in stderr
    assert proc.returncode == 0, _failure_report(proc)
    assert time.perf_counter() - t0 < 120
    log = (run / "log.txt").read_text()
    assert "batch 8 on 2 process(es), 8 images per process" in log  # each rank its own shard
    assert "conditional on 3 label column(s) (class 0, class 1, class 2)" in log
    assert log.count("2 ranks in sync: yes") == 2 and "NO" not in log
    assert "resume from step-00000002" in log
    ckpt = latest_checkpoint(run)
    state = json.loads((ckpt / "state.json").read_text())
    assert state["world_size"] == 2 and state["nimg"] == 32 and state["step"] == 4
    assert state["augment"]["p"] != 0.3 and state["augment"]["count"] == 0  # adjusted at step 4
    assert state["d_low_config"]["resolution"] == 8 and (ckpt / "D_low.safetensors").is_file()
    assert state["g_config"]["c_dim"] == state["d_config"]["c_dim"] == state["d_low_config"]["c_dim"] == 3
    assert (run / "samples" / "fakes000000.png").is_file()
    assert "done: 0.03 kimg (step 4)" in proc.stdout  # printed by rank 0 only
    assert proc.stdout.count("done:") == 2
