"""A wrapper that keeps a sensitive value out of reprs, logs, tracebacks and test snapshots."""

from __future__ import annotations

import hmac
from typing import Generic, TypeVar

T = TypeVar("T")


class Secret(Generic[T]):
    """Holds a sensitive value; `repr` and `str` show `<secret>`. Call `expose()` only where it is used."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def expose(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        a, b = self._value, other._value
        if isinstance(a, (str, bytes)) and type(a) is type(b):
            # Constant time, so comparing secrets does not leak how much of them matched.
            return hmac.compare_digest(a, b)  # type: ignore[arg-type]
        return a == b

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple:
        # Pickling would be a quiet way to write the value somewhere; refuse it.
        raise TypeError("a Secret cannot be pickled")
