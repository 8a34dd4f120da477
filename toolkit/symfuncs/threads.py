"""One intra-op thread for the symmetry-function kernels."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_thread():
    """Run the block with one PyTorch intra-op thread, then restore the count.

    The kernels are many small tensor operations: spread over threads they spend
    more time synchronising than computing (two threads measured 3-15x slower in
    wall time than one on a loaded 2-core machine). Processes scale instead
    (:func:`toolkit.features.iter_feature_chunks`).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
