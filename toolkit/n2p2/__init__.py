"""Reading and writing n2p2's files: ``input.nn``, ``scaling.data``, ``weights.NNN.data``."""

from .files import read_scaling, read_weights, weights_filename, write_scaling, write_weights
from .settings import ACTIVATIONS, NNSettings, format_input_nn, read_input_nn, write_input_nn

__all__ = ["read_scaling", "read_weights", "weights_filename", "write_scaling", "write_weights",
           "ACTIVATIONS", "NNSettings", "format_input_nn", "read_input_nn", "write_input_nn"]
