"""A small most-recently-used cache: the last few Merkle trees the node built, so serving the certificates
of a fresh offset or campaign does not rebuild its tree per request."""

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class RecentTrees(Generic[V]):
    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[int, V] = OrderedDict()

    def put(self, key: int, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: int, build: Callable[[], V]) -> V:
        value = self._items.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value
