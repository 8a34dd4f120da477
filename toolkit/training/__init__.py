"""Training of HDNNPs on a feature file: data in memory, splits, scaling, trainer, lr finder, checkpoints."""

from .data import Batch, FeatureData, scaling_affine, scaling_stats, split_indices
from .experiment import Experiment, ModelSpec, prepare
from .trainer import (TrainResult, TrainSettings, batch_forces, evaluate, find_lr, internal_energies,
                      make_optimizer, train)

__all__ = ["Batch", "FeatureData", "scaling_affine", "scaling_stats", "split_indices", "Experiment", "ModelSpec",
           "prepare", "TrainResult", "TrainSettings", "batch_forces", "evaluate", "find_lr",
           "internal_energies", "make_optimizer", "train"]
