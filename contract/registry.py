"""One registry helper for every name -> entry table of the workbench (job kinds, encoders,
synthesis methods and presets, distances, calibrations, decision rules, description
sources), so they all answer a duplicate or an unknown name the same way.

- A name registered twice with a different entry is refused (ValueError naming both); the
  same entry again is a no-op (a module imported twice registers the same functions).
- An unknown name is refused with the known names listed.
- Names keep their registration order (what lists and pickers show).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind.

    Args:
        what: what an entry is, for messages ("job kind", "synthesis method").
    """

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` under `name`; returns the entry.

        Raises:
            ValueError: `name` already holds a different entry.
        """
        if name in self._entries and self._entries[name] != entry:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry of `name`. Raises ValueError naming the known names."""
        if name not in self._entries:
            raise ValueError(f"Unknown {self.what} {name!r}; known: {self.names()}")
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._entries.items()))

    def values(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
