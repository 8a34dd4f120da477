"""toolkit.stats: standard errors of ratios."""

import math

import numpy as np
import pytest

from toolkit.stats import ratio_sem


def test_ratio_sem_propagates_both_relative_errors():
    # 2 +- 0.1 over 4 +- 0.2: 0.5 * sqrt(0.05^2 + 0.05^2)
    assert ratio_sem(2.0, 0.1, 4.0, 0.2) == pytest.approx(0.5 * math.sqrt(2) * 0.05, rel=1e-12)
    assert ratio_sem(-2.0, 0.1, 4.0, 0.0) == pytest.approx(0.025, rel=1e-12)  # a magnitude, whatever the signs
    out = ratio_sem([1.0, 3.0, 0.0, 1.0], [0.1, 0.3, 0.1, np.nan], [2.0, 3.0, 1.0, 1.0], [0.0, 0.0, 0.1, 0.1])
    assert out[:2] == pytest.approx([0.05, 0.1], rel=1e-12) and np.isnan(out[2:]).all()
