"""The kernel every module builds on: messages, the unit of work, the message bus."""

from app.bus.bus import MessageBus
from app.bus.effects import calls_outside
from app.bus.messages import Command, Envelope, Event, Message, Query, Value
from app.bus.retention import ArchivedHistory, Pruned, archived_history
from app.bus.unit_of_work import UnitOfWork
from app.bus.wiring import WiringError

__all__ = ["ArchivedHistory", "Command", "Envelope", "Event", "Message", "MessageBus", "Pruned",
           "Query", "UnitOfWork", "Value", "WiringError", "archived_history",
           "calls_outside"]
