"""benchmarks/exp_ceiling.py: the bound it prints rests on best_single_rate finding the best answer."""

from __future__ import annotations

import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from exp_ceiling import best_single_rate  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=5.0), min_size=1, max_size=40))
def test_no_single_answer_puts_more_rates_within_10pct(rates):
    rates = np.asarray(rates)
    answer, share = best_single_rate(rates)
    assert share == np.mean(np.abs(answer - rates) / rates <= 0.10)
    grid = np.linspace(0.8, 6.0, 20001)
    grid_best = (np.abs(grid[:, None] - rates) / rates <= 0.10).mean(axis=1).max()
    assert share >= grid_best


def test_two_rates_one_window_apart_are_answered_together_three_are_not():
    _, share = best_single_rate(np.array([2.25, 2.7]))  # 2.475 is within 10% of both
    assert share == 1.0
    _, share = best_single_rate(np.array([2.25, 2.7, 3.4]))
    assert share == 2 / 3
