"""normalize.records against dataclasses: the same construction, defaults, repr, equality,
frozenness and helpers, for the classes the shims define with it."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from normalize import records
from normalize.records import factory, record


@record
class Point:
    x: int
    y: int = 0
    tags: list = factory(list)

    def norm(self) -> int:
        return abs(self.x) + abs(self.y)


@dataclasses.dataclass(slots=True)
class DPoint:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)


@record(frozen=True)
class Frozen:
    a: str
    b: int | None = None


def test_construction_like_a_dataclass():
    for args, kwargs in (((1,), {}), ((1, 2), {}), ((), {"x": 3, "tags": ["t"]}), ((1,), {"y": 5})):
        p, d = Point(*args, **kwargs), DPoint(*args, **kwargs)
        assert (p.x, p.y, p.tags) == (d.x, d.y, d.tags)
        assert repr(p) == repr(d).replace("DPoint", "Point")
    assert Point(1).tags is not Point(1).tags  # a fresh list each
    for args, kwargs in (((), {}), ((1, 2, [], 4), {}), ((1,), {"x": 2}), ((1,), {"z": 2})):
        with pytest.raises(TypeError):
            Point(*args, **kwargs)
        with pytest.raises(TypeError):
            DPoint(*args, **kwargs)


def test_slots_equality_and_methods():
    p = Point(1, -2)
    assert p.norm() == 3 and Point.__slots__ == ("x", "y", "tags")
    with pytest.raises(AttributeError):
        p.typo = 1
    assert p == Point(1, -2, []) and p != Point(1, 2) and p != DPoint(1, -2)
    with pytest.raises(TypeError):
        hash(p)
    p.y = 7
    assert p.y == 7


def test_frozen_hash_copy_pickle_and_helpers():
    f = Frozen("a", 1)
    with pytest.raises(AttributeError):
        f.a = "b"
    assert hash(f) == hash(Frozen("a", 1)) and {f: 1}[Frozen("a", 1)] == 1
    assert pickle.loads(pickle.dumps(f)) == f and copy.deepcopy(f) == f
    assert records.fields(Frozen) == ("a", "b") == records.fields(f)
    assert records.replace(f, b=2) == Frozen("a", 2) and f.b == 1
    with pytest.raises(TypeError):
        records.replace(f, c=3)
    p = Point(1, tags=[{"k": [1]}])
    d = records.asdict(p)
    assert d == {"x": 1, "y": 0, "tags": [{"k": [1]}]} and d["tags"][0] is not p.tags[0]


def test_a_required_field_after_a_default_is_refused():
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 0
            b: int
