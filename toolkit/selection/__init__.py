"""Symmetry-function selection: adaptive group lasso, CUR and Pearson baselines, fake features, path, plots."""

from .agl import GroupPenalty, adaptive_weights, frozen_mask, group_norms, group_soft_threshold_
from .baselines import CURSelector, PearsonSelector

__all__ = ["GroupPenalty", "adaptive_weights", "frozen_mask", "group_norms", "group_soft_threshold_",
           "CURSelector", "PearsonSelector"]
