"""Usage arithmetic with Codex semantics (CONTRACT §5): what accounting is built on."""

from __future__ import annotations

import orjson
import pytest

from normalize.models import Usage
from normalize.usage import add, build_usage, empty_usage, from_parts, subtract, turn_usage

FIVE = {"input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens", "reasoning_output_tokens"}


def counts(u: dict) -> tuple[int, ...]:
    return (u["input_tokens"], u["cached_input_tokens"], u["cache_write_input_tokens"],
            u["output_tokens"], u["reasoning_output_tokens"], u["total_tokens"])


def test_build_usage_total_is_input_plus_output():
    u = build_usage(input_tokens=1200, cached_input_tokens=800, cache_write_input_tokens=100,
                    output_tokens=300, reasoning_output_tokens=200, cost_usd=0.01, cost_source="vendor",
                    model="m", num_turns=3)
    assert counts(u) == (1200, 800, 100, 300, 200, 1500)
    assert (u["cost_usd"], u["cost_source"], u["model"], u["num_turns"], u["scope"]) == (0.01, "vendor", "m", 3, "invocation")
    Usage.model_validate(u)


@pytest.mark.parametrize("bad", [-5, None, "abc", [], {}, [1], -0.5])
def test_negative_and_garbage_counts_clamp_to_zero(bad):
    u = build_usage(input_tokens=bad, output_tokens=bad, cached_input_tokens=bad,
                    cache_write_input_tokens=bad, reasoning_output_tokens=bad)
    assert counts(u) == (0, 0, 0, 0, 0, 0)
    Usage.model_validate(u)


def test_numeric_strings_and_floats_count_as_integers():
    u = build_usage(input_tokens="12", output_tokens=3.9)
    assert (u["input_tokens"], u["output_tokens"], u["total_tokens"]) == (12, 3, 15)


def test_cost_source_is_dropped_without_a_cost():
    assert build_usage(cost_source="vendor")["cost_source"] is None
    assert build_usage(cost_usd=0.0, cost_source="price_table")["cost_source"] == "price_table"


def test_empty_usage_is_all_zero_and_valid():
    u = empty_usage()
    assert counts(u) == (0,) * 6 and u["cost_usd"] is None and u["models"] == {}
    Usage.model_validate(u)


def test_from_parts_sums_cache_into_input_and_reasoning_into_output():
    u = from_parts(uncached_input=100, cache_read=50, cache_write=25, visible_output=40, reasoning=10,
                   cost_usd=0.5, cost_source="vendor", model="m")
    assert counts(u) == (175, 50, 25, 50, 10, 225)
    assert u["model"] == "m" and u["cost_usd"] == 0.5


def test_from_parts_clamps_each_part():
    u = from_parts(uncached_input=-100, cache_read="x", cache_write=None, visible_output=40, reasoning=-3)
    assert counts(u) == (0, 0, 0, 40, 0, 40)


def test_from_parts_parts_never_exceed_their_whole():
    u = from_parts(uncached_input=0, cache_read=7, cache_write=3, visible_output=0, reasoning=9)
    assert u["cached_input_tokens"] + u["cache_write_input_tokens"] <= u["input_tokens"]
    assert u["reasoning_output_tokens"] <= u["output_tokens"]


def test_turn_usage_is_the_five_codex_fields():
    u = build_usage(input_tokens=10, cached_input_tokens=4, cache_write_input_tokens=1, output_tokens=7,
                    reasoning_output_tokens=2, cost_usd=1.0, cost_source="vendor", model="m")
    assert turn_usage(u) == {"input_tokens": 10, "cached_input_tokens": 4, "cache_write_input_tokens": 1,
                             "output_tokens": 7, "reasoning_output_tokens": 2}
    assert set(turn_usage({})) == FIVE and set(turn_usage({}).values()) == {0}
    assert turn_usage({"input_tokens": None, "output_tokens": 5})["output_tokens"] == 5


# ---------------------------------------------------------------- running totals

PREVIOUS = build_usage(input_tokens=1000, cached_input_tokens=700, cache_write_input_tokens=100, output_tokens=200,
                       reasoning_output_tokens=20, cost_usd=0.10, cost_source="vendor", model="m", scope="session")
CUMULATIVE = build_usage(input_tokens=1500, cached_input_tokens=1000, cache_write_input_tokens=100, output_tokens=300,
                         reasoning_output_tokens=50, cost_usd=0.30, cost_source="vendor", model="m", num_turns=4,
                         scope="session")


def test_subtract_gives_this_invocation_from_two_running_totals():
    d = subtract(CUMULATIVE, PREVIOUS)
    assert counts(d) == (500, 300, 0, 100, 30, 600)
    assert d["cost_usd"] == pytest.approx(0.20)
    assert d["cost_usd"] == 0.2  # rounded: no 0.19999999999999998 in a ledger
    assert (d["cost_source"], d["model"], d["num_turns"], d["scope"]) == ("vendor", "m", 4, "invocation")
    Usage.model_validate(d)


def test_subtract_of_equal_totals_is_zero():
    d = subtract(CUMULATIVE, CUMULATIVE)
    assert counts(d) == (0,) * 6 and d["cost_usd"] == 0.0 and d["scope"] == "invocation"


def test_a_counter_that_went_backwards_keeps_the_total_as_session_scope():
    reset = build_usage(input_tokens=40, output_tokens=10, cost_usd=0.01, cost_source="vendor")
    d = subtract(reset, PREVIOUS)
    assert counts(d) == counts(reset)
    assert d["cost_usd"] == 0.01
    assert d["scope"] == "session"


def test_cost_that_went_backwards_is_not_negative():
    cheaper = {**CUMULATIVE, "cost_usd": 0.05}
    assert subtract(cheaper, PREVIOUS)["cost_usd"] == 0.0


def test_subtract_without_a_current_cost_has_no_cost():
    d = subtract({**CUMULATIVE, "cost_usd": None}, PREVIOUS)
    assert d["cost_usd"] is None and d["cost_source"] is None


def test_subtract_does_not_report_the_running_cost_as_one_invocation():
    d = subtract(CUMULATIVE, {**PREVIOUS, "cost_usd": None})
    assert d["cost_usd"] is None or d["scope"] == "session"


def test_add_sums_counts_and_costs():
    a = build_usage(input_tokens=10, cached_input_tokens=5, output_tokens=3, reasoning_output_tokens=1,
                    cost_usd=0.1, cost_source="vendor", model="m1")
    b = build_usage(input_tokens=20, cache_write_input_tokens=2, output_tokens=4, cost_usd=0.2,
                    cost_source="price_table", model="m2")
    s = add(a, b)
    assert counts(s) == (30, 5, 2, 7, 1, 37)
    assert s["cost_usd"] == 0.3
    assert (s["cost_source"], s["model"], s["scope"]) == ("vendor", "m1", "invocation")


def test_add_cost_is_unknown_when_either_is_unknown():
    a = build_usage(input_tokens=1, cost_usd=0.1, cost_source="vendor")
    b = build_usage(input_tokens=1)
    assert add(a, b)["cost_usd"] is None and add(b, a)["cost_usd"] is None


def test_add_with_a_session_total_is_session_scope():
    a = build_usage(input_tokens=1)
    b = build_usage(input_tokens=1, scope="session")
    assert add(a, b)["scope"] == "session" and add(b, a)["scope"] == "session"
    assert add(a, a)["scope"] == "invocation"


def test_infinite_count_is_clamped():
    assert build_usage(input_tokens=float("inf"))["input_tokens"] == 0


@pytest.mark.parametrize(
    "usage",
    [lambda: build_usage(input_tokens=1e23), lambda: from_parts(uncached_input=2**63, cache_read=2**63)],
    ids=["float_1e23", "sum_over_2_64"],
)
def test_counts_always_serialize(usage):
    orjson.dumps(turn_usage(usage()))
