"""The vendor-neutral reconciliation helpers (normalize/reconcile.py): how a failed check is shown."""

from __future__ import annotations

import pytest

from normalize import observe as o
from normalize.reconcile import (
    COST_TOLERANCE_USD,
    cost_difference,
    differences,
    is_all_zero,
    mismatch_observations,
)


def test_differences_lists_only_the_counts_that_differ():
    computed = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    reported = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
    assert differences(computed, reported, ("input_tokens", "output_tokens", "total_tokens")) == {
        "input_tokens": [10, 12], "total_tokens": [15, 17]}
    assert differences(computed, dict(computed), ("input_tokens", "output_tokens")) == {}


def test_differences_count_missing_and_wrongly_typed_figures_as_zero():
    computed = {"input_tokens": 3}
    reported = {"output_tokens": "7", "cached_input_tokens": True, "input_tokens": None}
    assert differences(computed, reported, ("input_tokens", "output_tokens", "cached_input_tokens")) == {
        "input_tokens": [3, 0]}


@pytest.mark.parametrize(
    ("computed", "reported", "expected"),
    [
        (0.0195, 0.0195, {}),
        (0.0097642, 0.0097642 + COST_TOLERANCE_USD / 2, {}),  # summation noise
        (0.0097642, 0.0195284, {"cost_usd": [0.0097642, 0.0195284]}),
        (None, 0.01, {}),  # an unknown cost checks nothing
        (0.01, None, {}),
        (0.01, True, {}),
        (0.01, float("nan"), {}),
    ],
)
def test_cost_difference(computed, reported, expected):
    assert cost_difference(computed, reported) == expected


def test_cost_difference_field_name():
    assert cost_difference(1, 2, field="total_cost_usd") == {"total_cost_usd": [1, 2]}


def test_all_zero():
    assert is_all_zero({"input_tokens": 0, "output_tokens": 0})
    assert is_all_zero({})
    assert not is_all_zero({"input_tokens": 0, "output_tokens": 1})
    assert not is_all_zero({"output_tokens": 1}, ("output_tokens",))
    assert is_all_zero({"output_tokens": 1}, ("input_tokens",))


def test_passed_checks_give_nothing():
    assert mismatch_observations("v", {}) == []
    assert mismatch_observations("v", {"a vs b": {}, "c vs d": {}}) == []


def test_failed_checks_give_an_error_item_each_and_one_mismatch_list():
    """The assembler merges vendor details key by key: several `usage_mismatch` lists would
    replace each other, so a parser's findings travel in one."""
    obs = mismatch_observations("v", {
        "a vs b": {"output_tokens": [19, 20], "input_tokens": [1, 2]},
        "passing": {},
        "cost": {"cost_usd": [0.01, 0.02]},
    })
    assert obs == [
        o.Warning("Usage mismatch (v: a vs b): input_tokens 1 vs 2, output_tokens 19 vs 20. "
                  "The reported usage is the shim's computation."),
        o.Warning("Usage mismatch (v: cost): cost_usd 0.01 vs 0.02. The reported usage is the shim's computation."),
        o.VendorInfo({"usage_mismatch": [
            {"check": "a vs b", "fields": {"output_tokens": [19, 20], "input_tokens": [1, 2]}},
            {"check": "cost", "fields": {"cost_usd": [0.01, 0.02]}},
        ]}),
    ]
    assert sum(isinstance(x, o.VendorInfo) for x in obs) == 1
