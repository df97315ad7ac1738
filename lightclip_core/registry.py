"""Name -> entry tables (backbones, text encoders, losses). Unknown names fail with the valid list."""

from __future__ import annotations

from typing import Callable, Generic, Iterable, Iterator, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered table of named entries, in registration order.

    `REG.register("name", entry)` stores an entry; `REG.register("name")` used as a decorator stores
    the decorated object. `REG.get(name)` raises `UnknownNameError` listing the valid names.
    """

    def __init__(self, kind: str, hint: str = "", plural: str = "names") -> None:
        self.kind = kind
        self.hint = hint  # extra advice appended to the unknown-name error, e.g. "or timm:<name>"
        self.plural = plural  # "valid <plural> are: ..."
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        if entry is None:

            def decorator(obj: T) -> T:
                self._store(name, obj)
                return obj

            return decorator
        self._store(name, entry)
        return entry

    def _store(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def unregister(self, name: str) -> T:
        """Remove and return entry `name` (a plug-in unloaded, a test's toy entry); unknown names raise
        `UnknownNameError` as `get` does."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name (a list from JSON) is unknown too
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        valid = ", ".join(self._entries)
        return f"Unknown {self.kind} {name!r}; valid {self.plural} are: {valid}{self.hint}."

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def one_of(kind: str, name: str, valid: Iterable[str], plural: str = "names") -> str:
    """`name` when it is one of `valid` (a table of plain choices: index kinds, presets, metrics, ...),
    else the registry's one-sentence `UnknownNameError` listing them."""
    valid = tuple(valid)
    if name in valid:  # the common case, on hot paths (a loss form per training step): no table built
        return name
    table: Registry[str] = Registry(kind, plural=plural)
    for choice in valid:
        table.register(choice, choice)
    return table.get(name)
