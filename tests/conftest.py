"""Shared pytest set-up: CPU only, deterministic, few threads, offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see ganlens/cli/__init__.py

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
    # A test (or the code it calls) must never leave autograd switched off for the next one.
    assert torch.is_grad_enabled(), "autograd was left disabled (global torch.set_grad_enabled(False))"


@pytest.fixture
def one_thread():
    """One torch thread for the test: the machine is shared, and under load one thread is several
    times faster than two. Files use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail loudly."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
