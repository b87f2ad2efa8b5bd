"""Generator architectures behind one interface (:class:`~ganlens.generators.base.Generator`)."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Any

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator, GeneratorConfig, z_from_seeds

# arch name -> "module:ClassName"; imported lazily so one broken/missing arch never blocks others.
_ARCHITECTURES = MappingProxyType(
    {
        "dcgan": "ganlens.generators.dcgan:DCGANGenerator",
        "pggan": "ganlens.generators.pggan:PGGANGenerator",
        "stylegan": "ganlens.generators.stylegan:StyleGANGenerator",
        "stylegan2": "ganlens.generators.stylegan2:StyleGAN2Generator",
    }
)


def architecture_names() -> tuple[str, ...]:
    return tuple(_ARCHITECTURES)


def get_architecture(name: str) -> type[Generator]:
    """The generator class registered under ``name``."""
    if name not in _ARCHITECTURES:
        raise GanlensError(f"unknown architecture {name!r}; allowed: {', '.join(_ARCHITECTURES)}")
    module, cls = _ARCHITECTURES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_generator(config_dict: dict[str, Any]) -> Generator:
    """Build an (untrained) generator from a config dict that carries its ``arch``."""
    if "arch" not in config_dict:
        raise GanlensError("config has no 'arch' field; allowed: " + ", ".join(_ARCHITECTURES))
    cls = get_architecture(config_dict["arch"])
    return cls(cls.config_class.from_dict(config_dict))


__all__ = [
    "Generator",
    "GeneratorConfig",
    "architecture_names",
    "build_generator",
    "get_architecture",
    "z_from_seeds",
]
