"""training.photo_groups: accuracy per group of faces in a real-photo set (``--group-by``)."""

from __future__ import annotations

import numpy as np
import pytest

from training.photo_groups import GroupSpec, GroupSpecError, describe_groups, group_keys, group_metrics, spread

ROWS = [
    {"file": "a.jpg", "person": "F01"},
    {"file": "b.jpg", "person": "F01"},
    {"file": "c.jpg", "person": "M02"},
    {"file": "d.jpg", "person": "M03"},
]


def test_a_spec_is_a_column_or_its_first_characters():
    assert GroupSpec.parse("person") == GroupSpec("person")
    assert GroupSpec.parse("person:1") == GroupSpec("person", 1)
    assert GroupSpec.parse("person:1").name == "person:1"
    assert group_keys(GroupSpec.parse("person:1"), ROWS) == ["F", "F", "M", "M"]
    assert group_keys(GroupSpec.parse("person"), ROWS) == ["F01", "F01", "M02", "M03"]
    for text, message in [(":1", "name a column"), ("person:x", "number of characters"), ("person:0", "1 or more")]:
        with pytest.raises(GroupSpecError, match=message):
            GroupSpec.parse(text)


def test_a_column_that_is_missing_or_empty_is_one_clear_error():
    with pytest.raises(GroupSpecError, match=r"labels\.csv has no column 'age'"):
        group_keys(GroupSpec("age"), ROWS)
    with pytest.raises(GroupSpecError, match="line 3 has no person"):
        group_keys(GroupSpec("person"), [ROWS[0], {"file": "b.jpg", "person": " "}])


def test_each_group_counts_its_own_photos_and_a_photo_without_a_face_is_wrong():
    labels = np.array([3, 4, 0, 6])
    predictions = np.array([3, -1, 0, 4])  # F01: right, no face; M02: right; M03: wrong
    groups = group_metrics(labels, predictions, ["F", "F", "M", "M"])
    assert groups == {
        "F": {"count": 2, "accuracy": 0.5, "faces_not_found": 1},
        "M": {"count": 2, "accuracy": 0.5, "faces_not_found": 0},
    }
    people = group_metrics(labels, predictions, group_keys(GroupSpec("person"), ROWS))
    assert [people[key]["accuracy"] for key in ("F01", "M02", "M03")] == [0.5, 1.0, 0.0]


def test_the_spread_tells_groups_that_really_differ_from_chance():
    rng = np.random.default_rng(0)
    labels = np.zeros(20 * 14, np.int64)
    keys = [f"P{index:02d}" for index in range(20) for _ in range(14)]
    # Every photo right with probability 0.8, whoever it is: the groups differ by chance only.
    alike = spread(group_metrics(labels, np.where(rng.random(labels.size) < 0.8, 0, 1), keys))
    assert alike["groups"] == 20 and alike["sd"] < 1.5 * alike["chance_sd"] and alike["chance_p"] > 0.05
    # Half the people always read right, half always wrong: far beyond chance.
    apart = spread(group_metrics(labels, np.repeat(np.arange(20) % 2, 14), keys))
    assert apart["sd"] == pytest.approx(0.5) and apart["sd"] > 3 * apart["chance_sd"]
    assert apart["chance_p"] == round(1 / 2001, 4), "no dealing at random spreads them as widely"
    assert apart["lowest"] == 0.0 and apart["lowest_groups"] == [f"P{i:02d}" for i in range(1, 20, 2)]
    assert apart["median"] == 0.5 and apart["highest"] == 1.0


def test_a_few_groups_are_listed_and_many_summed_up():
    few = {"F": {"count": 490, "accuracy": 0.8102, "faces_not_found": 0}, "M": {"count": 3, "accuracy": 1.0}}
    assert describe_groups(few) == "F 81.02% (490), M 100.00% (3)"
    many = {f"P{index:02d}": {"count": 14, "accuracy": index / 14} for index in range(1, 13)}
    text = describe_groups(many)
    assert text.startswith("12 groups of 14: lowest 7.14% (P01), median 46.43%, highest 85.71% (P12)")
    assert "standard deviation 24.7% (chance alone: 13.3%, p = 0.0005)" in text
