"""Accuracy per group of faces in a real-photo set (``python -m training.evaluate_photos --group-by SPEC``).

A group is read from a column of the set's ``labels.csv``: ``SPEC`` is the column's name, or ``column:N`` to
group by the value's first ``N`` characters. KDEF's ``person`` column (``F01`` ... ``M35``) gives one group per
person with ``person`` and women and men with ``person:1``. The numbers say for which faces the model is less
reliable; with few photos a group (KDEF: 14 per person), one photo moves a person's accuracy by 7 points, so
read the spread, not one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class GroupSpecError(ValueError):
    """A ``--group-by`` value that cannot be used; the message says why."""


@dataclass(frozen=True)
class GroupSpec:
    """Which column of labels.csv groups the photos, and how many of its first characters count (0: all)."""

    column: str
    prefix: int = 0

    @classmethod
    def parse(cls, text: str) -> GroupSpec:
        """``"person"`` or ``"person:1"``."""
        column, _, prefix = text.partition(":")
        if not column.strip():
            raise GroupSpecError(f"--group-by {text!r}: name a column of labels.csv, e.g. person or person:1")
        if not prefix:
            return cls(column.strip())
        if not prefix.isdigit() or int(prefix) < 1:
            raise GroupSpecError(f"--group-by {text!r}: after the colon, a number of characters (1 or more)")
        return cls(column.strip(), int(prefix))

    @property
    def name(self) -> str:
        return f"{self.column}:{self.prefix}" if self.prefix else self.column

    def key(self, value: str) -> str:
        return value[: self.prefix] if self.prefix else value


def group_keys(spec: GroupSpec, rows: list[dict[str, str]]) -> list[str]:
    """The group of each photo (in the order of ``rows``, labels.csv's other columns per photo)."""
    keys = []
    for line, row in enumerate(rows, start=2):
        if spec.column not in row:
            raise GroupSpecError(f"--group-by {spec.name}: labels.csv has no column {spec.column!r}")
        value = (row[spec.column] or "").strip()
        if not value:
            raise GroupSpecError(f"--group-by {spec.name}: labels.csv line {line} has no {spec.column}")
        keys.append(spec.key(value))
    return keys


def group_metrics(labels: np.ndarray, predictions: np.ndarray, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Per group (sorted by name): photos, accuracy and how many of its photos had no face found
    (``predictions``: the class read, -1 where no face was found)."""
    groups: dict[str, dict[str, Any]] = {}
    key_array = np.asarray(keys)
    for key in sorted(set(keys)):
        members = key_array == key
        groups[key] = {
            "count": int(members.sum()),
            "accuracy": round(float((predictions[members] == labels[members]).mean()), 4),
            "faces_not_found": int((predictions[members] < 0).sum()),
        }
    return groups


def spread(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The lowest, median and highest accuracy over the groups, with the groups at each end; the standard deviation
    of the groups' accuracies, the one chance alone would give (every photo read right with the overall
    accuracy's probability, whatever its group), and how often chance alone spreads them as widely
    (:func:`chance_p_value`): a ``sd`` above ``chance_sd`` with a small ``chance_p`` means the groups really
    differ."""
    accuracies = {key: group["accuracy"] for key, group in groups.items()}
    lowest, highest = min(accuracies.values()), max(accuracies.values())
    counts = np.array([group["count"] for group in groups.values()], np.float64)
    overall = float(np.dot(counts, list(accuracies.values())) / counts.sum())
    return {
        "groups": len(groups),
        "lowest": lowest,
        "lowest_groups": sorted(key for key, value in accuracies.items() if value == lowest),
        "median": round(float(np.median(list(accuracies.values()))), 4),
        "highest": highest,
        "highest_groups": sorted(key for key, value in accuracies.items() if value == highest),
        "sd": round(float(np.std(list(accuracies.values()))), 4),
        "chance_sd": round(float(np.mean(np.sqrt(overall * (1 - overall) / counts))), 4),
        "chance_p": chance_p_value(groups),
    }


def chance_p_value(groups: dict[str, dict[str, Any]], permutations: int = 2000, seed: int = 0) -> float:
    """How often chance alone spreads the groups' accuracies as widely as measured: the photos read right and
    wrong are dealt out to groups of the same sizes at random, ``permutations`` times (a permutation test of the
    standard deviation; small: the groups really differ)."""
    counts = np.array([group["count"] for group in groups.values()])
    right = np.array([round(group["accuracy"] * group["count"]) for group in groups.values()])
    observed = np.std(right / counts)
    pool = np.zeros(counts.sum(), np.int8)
    pool[: right.sum()] = 1
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    wider = 0
    for _ in range(permutations):
        dealt = np.add.reduceat(rng.permutation(pool), starts) / counts
        wider += np.std(dealt) >= observed - 1e-12
    return round(float((wider + 1) / (permutations + 1)), 4)


LISTED_GROUPS = 10
"""Up to this many groups are listed one by one; more are summed up by their spread."""


def describe_groups(groups: dict[str, dict[str, Any]]) -> str:
    """``F 82.04% (490), M 80.00% (490)``, or for many groups ``70 groups of 14: lowest 50.00% (M13), ...``."""
    if len(groups) <= LISTED_GROUPS:
        return ", ".join(f"{key} {group['accuracy']:.2%} ({group['count']})" for key, group in groups.items())
    summary = spread(groups)
    sizes = sorted({group["count"] for group in groups.values()})
    size = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    return (
        f"{summary['groups']} groups of {size}: lowest {summary['lowest']:.2%} ({_names(summary['lowest_groups'])}), "
        f"median {summary['median']:.2%}, highest {summary['highest']:.2%} ({_names(summary['highest_groups'])}); "
        f"standard deviation {summary['sd']:.1%} (chance alone: {summary['chance_sd']:.1%}, "
        f"p = {summary['chance_p']:.4f})"
    )


def _names(keys: list[str]) -> str:
    return ", ".join(keys) if len(keys) <= 3 else f"{len(keys)} groups"
