"""ganlens: open up the latent space of pretrained GANs."""

from ganlens.errors import GanlensError

__version__ = "0.1.0"
__all__ = ["GanlensError", "__version__"]
