"""The kernel every module builds on: messages, the unit of work, the message bus."""

from app.bus.bus import MessageBus
from app.bus.messages import Command, Envelope, Event, Message, Query, Value
from app.bus.unit_of_work import UnitOfWork
from app.bus.wiring import WiringError

__all__ = ["Command", "Envelope", "Event", "Message", "MessageBus", "Query", "UnitOfWork",
           "Value", "WiringError"]
