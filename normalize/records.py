"""`@record`: a slotted data class without code generation.

`dataclasses` writes and compiles `__init__`, `__repr__` and `__eq__` for each class: ~0.5 ms a
class at start-up, and a shim starts once per task and defines a dozen such classes on its way
to the vendor (`make bench`: ~6 ms of every start). `record` gives the same shape from the
class's annotations and defaults — slots, positional or keyword construction, `repr`,
field-wise equality, `frozen` — with shared generic methods; `fields`, `asdict` and `replace`
serve the few callers that need them. Annotations are never evaluated (no ClassVar/InitVar).
"""

from __future__ import annotations

_NO_DEFAULT = object()


class factory:
    """A default made anew for each instance (dataclasses' `field(default_factory=...)`)."""

    __slots__ = ("make",)

    def __init__(self, make) -> None:
        self.make = make


class FrozenInstanceError(AttributeError):
    pass


def record(cls=None, /, *, frozen: bool = False):
    def wrap(cls):
        names = tuple(cls.__dict__.get("__annotations__", {}))
        defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
        for before, name in zip(names, names[1:], strict=False):
            if before in defaults and name not in defaults:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
        ns = {k: v for k, v in cls.__dict__.items() if k not in defaults and k not in ("__dict__", "__weakref__")}
        ns.update(__slots__=names, _fields=names, _defaults=defaults)
        ns.setdefault("__init__", _init)
        ns.setdefault("__repr__", _repr)
        ns.setdefault("__eq__", _eq)
        ns.update(__getstate__=_getstate, __setstate__=_setstate)  # pickle and copy, frozen too
        if frozen:
            ns.update(__setattr__=_frozen, __delattr__=_frozen, __hash__=_hash)
        else:
            ns["__hash__"] = None  # mutable and compared by value: not hashable (as dataclasses)
        return type(cls)(cls.__name__, cls.__bases__, ns)

    return wrap if cls is None else wrap(cls)


def _init(self, *args, **kwargs) -> None:
    cls = type(self)
    names = cls._fields
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} arguments but {len(args)} were given")
    put = object.__setattr__  # also for frozen records
    for name, value in zip(names, args, strict=False):
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        put(self, name, value)
    for name in names[len(args) :]:
        if name in kwargs:
            put(self, name, kwargs.pop(name))
            continue
        default = cls._defaults.get(name, _NO_DEFAULT)
        if default is _NO_DEFAULT:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
        put(self, name, default.make() if type(default) is factory else default)
    if kwargs:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")


def _repr(self) -> str:
    return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"


def _eq(self, other: object):
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in self._fields)


def _getstate(self) -> tuple:
    return tuple(getattr(self, n) for n in self._fields)


def _setstate(self, state: tuple) -> None:
    for name, value in zip(self._fields, state, strict=True):
        object.__setattr__(self, name, value)


def _hash(self) -> int:
    return hash(tuple(getattr(self, n) for n in self._fields))


def _frozen(self, name: str, *value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def fields(cls_or_record) -> tuple[str, ...]:
    return cls_or_record._fields


def asdict(rec) -> dict:
    """The fields as a dict, values deep-copied (as dataclasses.asdict)."""
    import copy

    return copy.deepcopy({n: getattr(rec, n) for n in rec._fields})


def replace(rec, **changes):
    unknown = set(changes) - set(rec._fields)
    if unknown:
        raise TypeError(f"{type(rec).__name__} has no field {sorted(unknown)[0]!r}")
    return type(rec)(**{n: changes.get(n, getattr(rec, n)) for n in rec._fields})
