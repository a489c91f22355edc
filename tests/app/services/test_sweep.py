"""Sweeps (app/services/sweep.py): grids checked, counted, expanded; placeholders filled (unit tests)."""

from __future__ import annotations

import pytest

from app.errors import InvalidRequest
from app.services import sweep
from app.services.sweep import Grid
from mito.vocab import MAX_CAMPAIGN_TASKS

RATE_SIZE = Grid(
    parameters=[("rate", ["10", "20", "50"]), ("size", ["1k", "1M"])], row_names=(), rows=None, repeat=2
)


def template(*args: str, envs: dict[str, str] | None = None, labels: list[str] | None = None) -> dict:
    return {
        "tags": [], "labels": labels or [], "timeout": 60, "priority": 0,
        "task_spec": {"args": list(args), "envs": envs or {}, "resources": [], "terminal_output": False},
    }  # fmt: skip


def test_a_sweep_is_the_cartesian_product_in_parameter_order():
    assert list(sweep.points(RATE_SIZE)) == [
        {"rate": r, "size": s} for r in ("10", "20", "50") for s in ("1k", "1M")
    ]
    assert (RATE_SIZE.point_count, RATE_SIZE.task_count) == (6, 12)


def test_explicit_points_combine_with_the_sweep_rows_first():
    grid = Grid(parameters=[("seed", ["1", "2"])], row_names=["host"], rows=[["a"], ["b"]], repeat=1)
    assert grid.names == ["host", "seed"]
    assert list(sweep.points(grid)) == [
        {"host": "a", "seed": "1"}, {"host": "a", "seed": "2"},
        {"host": "b", "seed": "1"}, {"host": "b", "seed": "2"},
    ]  # fmt: skip


def test_no_parameters_is_one_point():
    grid = Grid(parameters=[], row_names=(), rows=None, repeat=3)
    assert list(sweep.points(grid)) == [{}] and grid.task_count == 3


def test_fill_substitutes_args_and_env_values_and_adds_labels():
    filled = sweep.fill(
        template("iperf3", "-b", "{rate}M", "-n", "{size}", envs={"SIZE": "{size}", "RUN": "r{repeat}"},
                 labels=["exp"]),
        {"rate": "10", "size": "1k"},
        2,
    )  # fmt: skip
    assert filled["task_spec"]["args"] == ["iperf3", "-b", "10M", "-n", "1k"]
    assert filled["task_spec"]["envs"] == {"SIZE": "1k", "RUN": "r2"}
    assert filled["labels"] == ["exp", "rate=10", "size=1k"]


def test_shell_variables_doubled_braces_and_other_braces_stay_literal():
    args = ["sh", "-c", 'echo ${rate} {{rate}} {rate} {} {"a": 1} {not a name}']
    sweep.check_placeholders(template(*args), ["rate"])
    filled = sweep.fill(template(*args), {"rate": "7"}, 1)
    assert filled["task_spec"]["args"][2] == 'echo ${rate} {rate} 7 {} {"a": 1} {not a name}'


def test_unknown_placeholder_is_refused_with_its_place_and_the_known_names():
    with pytest.raises(InvalidRequest) as err:
        sweep.check_placeholders(template("run", "-n", "{sise}"), ["rate", "size"])
    assert "{sise}" in err.value.message and "args[2]" in err.value.message
    assert "rate, repeat, size" in err.value.message


def test_unknown_placeholder_in_an_env_value_is_refused():
    with pytest.raises(InvalidRequest, match=r"env OUT"):
        sweep.check_placeholders(template("run", envs={"OUT": "{dir}"}), ["rate"])


@pytest.mark.parametrize(
    ("grid", "says"),
    [
        (Grid([("rate", [])], (), None, 1), "rate has an empty value list"),
        (Grid([("rate", ["1", "2", "1"])], (), None, 1), "lists '1' more than once"),
        (Grid([("rate", ["1"]), ("rate", ["2"])], (), None, 1), "rate is given twice"),
        (Grid([("host", ["1"])], ["host"], [["a"]], 1), "host is given twice"),
        (Grid([("2x", ["1"])], (), None, 1), "'2x' is not a valid name"),
        (Grid([("repeat", ["1"])], (), None, 1), "'repeat' is reserved"),
        (Grid([], ["a"], [], 1), "points.rows is empty"),
        (Grid([], [], [[]], 1), "points.names is empty"),
        (Grid([], ["a", "a"], [["1", "2"]], 1), "names a parameter twice"),
        (Grid([], ["a", "b"], [["1", "2"], ["3"]], 1), "Point 2 has 1 values for the 2 parameters a, b"),
    ],
)
def test_bad_grids_are_refused(grid, says):
    with pytest.raises(InvalidRequest) as err:
        sweep.check(grid)
    assert says in err.value.message


def test_a_grid_over_the_limit_is_refused_before_it_is_expanded():
    values = [str(i) for i in range(1000)]
    grid = Grid([("a", values), ("b", values)], (), None, 1)  # a million points: never enumerated
    with pytest.raises(InvalidRequest) as err:
        sweep.check(grid)
    assert "1,000,000 tasks" in err.value.message and f"{MAX_CAMPAIGN_TASKS:,}" in err.value.message


def test_repeats_count_towards_the_limit():
    grid = Grid([("a", [str(i) for i in range(50_001)])], (), None, 2)
    with pytest.raises(InvalidRequest, match="100,002 tasks"):
        sweep.check(grid)
    sweep.check(Grid([("a", [str(i) for i in range(50_000)])], (), None, 2))  # exactly the limit
