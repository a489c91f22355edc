"""Sweeps: a campaign's grid checked, counted and expanded into points, and a task made for each point.

A grid is the cartesian product of the swept `parameters` ([(name, values)], in order), times the explicit
points (`rows` of values for the parameters `row_names`, e.g. a CSV file) when there are any, each point
run `repeat` times.
Tasks are made repetition by repetition (every point once, then every point again), so a drift of the
hosts over time spreads over all points instead of favouring the first ones.

In a task's args and env values, `{name}` is the point's value of parameter `name` and `{repeat}` its
repetition (1..repeat). `${name}` is left alone (it is the shell's), `{{name}}` stands for a literal
`{name}`, and any other brace is an ordinary character. A placeholder that names no parameter is refused
before anything is made, as are empty value lists, clashing names and grids over MAX_CAMPAIGN_TASKS.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidRequest
from mito.vocab.campaigns import MAX_CAMPAIGN_TASKS, PARAMETER_NAME, REPEAT_PLACEHOLDER

# `{{name}}` (a literal), or `{name}` not preceded by `$`.
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Grid:
    """The swept parameters (a cartesian product), the explicit points, and the repetitions of each."""

    parameters: Sequence[tuple[str, Sequence[str]]]
    row_names: Sequence[str]
    rows: Sequence[Sequence[str]] | None
    repeat: int

    @property
    def names(self) -> list[str]:
        """Every parameter name, in column order: the explicit points' names, then the swept ones."""
        return [*(self.row_names if self.rows is not None else ()), *(name for name, _ in self.parameters)]

    @property
    def point_count(self) -> int:
        """How many distinct points the grid has (before repetition)."""
        rows = len(self.rows) if self.rows is not None else 1
        return rows * math.prod(len(values) for _, values in self.parameters)

    @property
    def task_count(self) -> int:
        """How many tasks the grid makes."""
        return self.point_count * self.repeat


def check(grid: Grid) -> None:
    """Refuse (400) a grid with bad or clashing names, an empty value list, or too many tasks."""
    seen: set[str] = set()
    if grid.rows is not None:
        _check_rows(grid.row_names, grid.rows)
        seen.update(grid.row_names)
    for name, values in grid.parameters:
        _check_name(name, "a swept parameter")
        if name in seen:
            raise InvalidRequest(f"Parameter {name} is given twice")
        seen.add(name)
        if not values:
            raise InvalidRequest(f"Parameter {name} has an empty value list: give it at least one value")
        duplicates = sorted(value for value, times in Counter(values).items() if times > 1)
        if duplicates:
            raise InvalidRequest(
                f"Parameter {name} lists {', '.join(map(repr, duplicates))} more than once "
                "(use repeat to run a point several times)"
            )
    if grid.task_count > MAX_CAMPAIGN_TASKS:
        shape = " x ".join(
            [
                *([f"{len(grid.rows)} rows"] if grid.rows is not None else []),
                *(str(len(v)) for _, v in grid.parameters),
            ]
        )
        raise InvalidRequest(
            f"The grid has {grid.task_count:,} tasks ({shape or '1'} points x {grid.repeat} repeats): "
            f"over the limit of {MAX_CAMPAIGN_TASKS:,} tasks per campaign; split it into several campaigns"
        )


def _check_rows(names: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not names:
        raise InvalidRequest("points.names is empty: name the parameters of the rows")
    for name in names:
        _check_name(name, "a point's parameter")
    if len(set(names)) != len(names):
        raise InvalidRequest(f"points.names names a parameter twice: {', '.join(names)}")
    if not rows:
        raise InvalidRequest("points.rows is empty: give at least one row, or leave points out")
    for number, row in enumerate(rows, start=1):
        if len(row) != len(names):
            raise InvalidRequest(
                f"Point {number} has {len(row)} values for the {len(names)} parameters {', '.join(names)}"
            )


def _check_name(name: str, what: str) -> None:
    if not PARAMETER_NAME.match(name):
        raise InvalidRequest(
            f"{name!r} is not a valid name for {what}: use letters, digits and _, not starting with a digit"
        )
    if name == REPEAT_PLACEHOLDER:
        raise InvalidRequest(f"{REPEAT_PLACEHOLDER!r} is reserved: {{repeat}} is the repetition number")


def points(grid: Grid) -> Iterator[dict[str, str]]:
    """The grid's distinct points in order: each explicit row with each combination of the swept values."""
    rows: Sequence[Sequence[str]] = grid.rows if grid.rows is not None else [()]
    row_names = grid.row_names if grid.rows is not None else ()
    names = [*row_names, *(name for name, _ in grid.parameters)]
    for row in rows:
        for combination in itertools.product(*(values for _, values in grid.parameters)):
            yield dict(zip(names, (*row, *combination), strict=True))


def check_placeholders(template: Mapping[str, Any], names: Sequence[str]) -> None:
    """Refuse (400) a `{placeholder}` in the template's args or env values that names no parameter."""
    known = {*names, REPEAT_PLACEHOLDER}
    for where, text in _fillable(template):
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(2)
            if name is not None and name not in known:
                listed = ", ".join(sorted(known))
                raise InvalidRequest(
                    f"Unknown placeholder {{{name}}} in {where} ({text!r}): the placeholders are {listed}; "
                    f"write {{{{{name}}}}} for a literal {{{name}}}"
                )


def _fillable(template: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    spec = template["task_spec"]
    for index, arg in enumerate(spec["args"]):
        yield f"args[{index}]", arg
    for key, value in spec.get("envs", {}).items():
        yield f"env {key}", value


def fill(template: Mapping[str, Any], point: Mapping[str, str], repeat: int) -> dict[str, Any]:
    """The SubmitTaskReq of one task: the template with the point's values substituted, and its labels."""
    values = {**point, REPEAT_PLACEHOLDER: str(repeat)}

    def substitute(text: str) -> str:
        return _PLACEHOLDER.sub(
            lambda m: "{" + m.group(1) + "}" if m.group(1) is not None else values[m.group(2)], text
        )

    spec = template["task_spec"]
    filled_spec = {
        **spec,
        "args": [substitute(arg) for arg in spec["args"]],
        "envs": {key: substitute(value) for key, value in spec.get("envs", {}).items()},
    }
    labels = [*template.get("labels", []), *(f"{name}={value}" for name, value in point.items())]
    return {**template, "task_spec": filled_spec, "labels": labels}
