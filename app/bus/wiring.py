"""Which receiver listens to which signal, per style. Each style is one ``blinker.Namespace``
with one signal per message type; the wiring can be listed at run time from the live signals."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from blinker import Namespace

from app.bus.messages import Command, Message, Query, command_types, message_class

Receiver = Callable[..., Any]


class WiringError(RuntimeError):
    """The wiring breaks a rule (a command needs exactly one receiver); raised at start-up."""


@dataclass(frozen=True)
class Subscription:
    style: str
    message_type: type[Message]
    receiver: Receiver
    module: str

    @property
    def name(self) -> str:
        return receiver_name(self.receiver, self.module)


def receiver_name(receiver: Receiver, module: str) -> str:
    return f"{module}.{receiver.__name__}"


def module_of(receiver: Receiver) -> str:
    """``app.modules.payment.reactions.hybrid`` -> ``payment``."""
    parts = receiver.__module__.split(".")
    return parts[2] if parts[:2] == ["app", "modules"] and len(parts) > 2 else parts[-1]


class Wiring:
    def __init__(self, styles: Iterable[str]) -> None:
        self.styles = tuple(styles)
        self.namespaces = {style: Namespace() for style in self.styles}
        self.queries = Namespace()
        self._modules: dict[Receiver, str] = {}
        self._sends: dict[str, list[tuple[str, type[Command]]]] = {s: [] for s in self.styles}
        self._lookup: dict[tuple[str, str, str], Receiver] = {}
        self._order: dict[tuple[str, str], list[Receiver]] = {}
        self._flow_ends: set[str] = set()

    def connect(self, style: str, message_type: type[Message], receiver: Receiver,
                module: str | None = None) -> None:
        module = module or module_of(receiver)
        self._modules[receiver] = module
        self.namespaces[style].signal(message_type.type_name()).connect(receiver, weak=False)
        self._order.setdefault((style, message_type.type_name()), []).append(receiver)
        self._lookup[(style, message_type.type_name(), receiver_name(receiver, module))] = receiver

    def declare_sends(self, style: str, module: str, commands: Iterable[type[Command]]) -> None:
        self._sends[style].extend((module, command) for command in commands)

    def end_flows_with(self, *message_types: type[Message]) -> None:
        """Declare the message types after which a flow is finished (the composition root
        says it for the modules: the kernel may not know them); retention reads it."""
        self._flow_ends.update(message_type.type_name() for message_type in message_types)

    @property
    def flow_ends(self) -> frozenset[str]:
        return frozenset(self._flow_ends)

    def answer(self, query_type: type[Query], handler: Receiver) -> None:
        self.queries.signal(query_type.__name__).connect(handler, weak=False)
        self._modules[handler] = module_of(handler)

    def receivers(self, style: str, type_name: str) -> list[tuple[str, str]]:
        """(receiver name, module) of the live receivers of a signal, in connection order
        (blinker keeps them in a set, so the order is ours)."""
        live = set(self.namespaces[style].signal(type_name).receivers_for(None))
        ordered = [r for r in self._order.get((style, type_name), []) if r in live]
        ordered += [r for r in live if r not in ordered]  # connected behind our back
        named = []
        for receiver in ordered:
            module = self._modules.get(receiver) or module_of(receiver)
            named.append((receiver_name(receiver, module), module))
        return named

    def receiver(self, style: str, type_name: str, name: str) -> Receiver:
        try:
            return self._lookup[(style, type_name, name)]
        except KeyError:
            raise WiringError(f"{name} no longer listens to {type_name} in {style}") from None

    def ask(self, query: Query, *args: Any) -> Any:
        handlers = list(self.queries.signal(type(query).__name__).receivers_for(None))
        if len(handlers) != 1:
            raise WiringError(f"query {type(query).__name__} has {len(handlers)} handlers")
        return handlers[0](query, *args)

    def validate(self) -> None:
        for style in self.styles:
            for module, command in self._sends[style]:
                count = len(self.receivers(style, command.type_name()))
                if count != 1:
                    raise WiringError(
                        f"in {style}, {module} sends {command.__name__}, which has {count} "
                        "receivers; a command needs exactly one")
            for type_name, signal in self.namespaces[style].items():
                count = len(list(signal.receivers_for(None)))
                if type_name in command_types() and count > 1:
                    raise WiringError(f"in {style}, command {type_name} has {count} receivers")

    def disconnect_all(self) -> None:
        for namespace in [*self.namespaces.values(), self.queries]:
            for signal in namespace.values():
                for receiver in list(signal.receivers_for(None)):
                    signal.disconnect(receiver)
        self._lookup.clear()
        self._order.clear()

    def subscriptions(self, style: str) -> list[dict[str, str]]:
        rows = []
        for type_name, signal in sorted(self.namespaces[style].items()):
            for receiver in signal.receivers_for(None):
                module = self._modules[receiver]
                rows.append({"signal": type_name, "kind": _kind(type_name), "module": module,
                             "receiver": receiver_name(receiver, module), "relation": "listens"})
        rows += [{"signal": command.type_name(), "kind": "command", "module": module,
                  "receiver": "", "relation": "sends"} for module, command in self._sends[style]]
        return rows

    def coupling(self, style: str) -> dict[str, dict[str, list[str]]]:
        """module -> owner of a foreign message type -> the types it has to know."""
        matrix: dict[str, dict[str, set[str]]] = {}
        for row in self.subscriptions(style):
            owner, short = row["signal"].split(".")[1:3]
            if owner != row["module"]:
                matrix.setdefault(row["module"], {}).setdefault(owner, set()).add(short)
        return {module: {owner: sorted(types) for owner, types in sorted(owners.items())}
                for module, owners in sorted(matrix.items())}


def _kind(type_name: str) -> str:
    try:
        return message_class(type_name).kind
    except LookupError:
        return "unknown"
