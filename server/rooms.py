"""Rooms and participants: who is in which call. Synchronous bookkeeping, no I/O.

:class:`RoomDirectory` is everything the server asks of room state; :class:`RoomRegistry`
keeps it in this process. A directory shared by several server processes (issue 20) has to
answer the same calls.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

ROOM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_DISPLAY_NAME = 64
MAX_PARTICIPANT_ID = 255  # sender ids travel in one byte of every audio packet
ALL_RIGHTS = ("publish", "subscribe")


class RoomError(ValueError):
    """A join that cannot be honoured: bad room or display name, a full room, too many rooms."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def validate_room_name(room: Any) -> str:
    """Return ``room`` if it is a valid room name, else raise :class:`RoomError`."""
    if not isinstance(room, str) or not ROOM_NAME_RE.match(room):
        raise RoomError("bad-room", "room name must be 1-64 characters of letters, digits, '_', '-' "
                                    f"or '.', starting with a letter or digit (got {room!r})")
    return room


def validate_display_name(name: Any) -> str:
    """Return ``name`` stripped if it is a valid display name, else raise :class:`RoomError`."""
    if not isinstance(name, str) or not name.strip():
        raise RoomError("bad-name", "display name must be a non-empty string")
    name = name.strip()
    if len(name) > MAX_DISPLAY_NAME or not name.isprintable():
        raise RoomError("bad-name", f"display name must be at most {MAX_DISPLAY_NAME} printable characters")
    return name


@dataclass(eq=False)
class Participant:
    """One person in a room. ``id`` is unique within the room and tags their audio packets;
    ``identity`` says who they are (from their token), ``name`` is what the others see."""

    id: int
    name: str
    room: "Room"
    identity: str | None = None
    rights: tuple[str, ...] = ALL_RIGHTS
    # Whatever the server attaches (its connection object); rooms never look inside.
    endpoint: Any = None

    @property
    def can_publish(self) -> bool:
        return "publish" in self.rights

    @property
    def can_subscribe(self) -> bool:
        return "subscribe" in self.rights

    def describe(self) -> dict[str, Any]:
        """The public view other participants get."""
        return {"id": self.id, "name": self.name}


@dataclass(eq=False)
class Room:
    """A call: participants keyed by id."""

    name: str
    participants: dict[int, Participant] = field(default_factory=dict)

    def others(self, participant: Participant) -> list[Participant]:
        """Everyone in the room except ``participant``."""
        return [p for p in self.participants.values() if p is not participant]

    def with_identity(self, identity: str) -> Participant | None:
        """The participant holding ``identity``, if any."""
        return next((p for p in self.participants.values() if p.identity == identity), None)

    def unique_name(self, name: str) -> str:
        """``name``, or ``name (2)``, ``name (3)``… if someone here already uses it."""
        taken = {p.name.casefold() for p in self.participants.values()}
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            candidate = name[:MAX_DISPLAY_NAME - len(suffix)] + suffix
        return candidate


class RoomDirectory(Protocol):
    """Room state as the server uses it."""

    def join(self, room_name: Any, display_name: Any, identity: str | None = None,
             rights: tuple[str, ...] = ALL_RIGHTS) -> Participant: ...

    def leave(self, participant: Participant) -> None: ...

    def find(self, room_name: str, identity: str) -> Participant | None: ...

    @property
    def room_count(self) -> int: ...

    @property
    def participant_count(self) -> int: ...


class RoomRegistry:
    """All rooms of one server process. Rooms are created on first join and removed when empty."""

    def __init__(self, max_participants: int = 16, max_rooms: int = 1000) -> None:
        if not 2 <= max_participants <= MAX_PARTICIPANT_ID:
            raise ValueError(f"max_participants must be in 2..{MAX_PARTICIPANT_ID}")
        if max_rooms < 1:
            raise ValueError("max_rooms must be at least 1")
        self.max_participants = max_participants
        self.max_rooms = max_rooms
        self.rooms: dict[str, Room] = {}

    @property
    def room_count(self) -> int:
        """Rooms with at least one participant."""
        return len(self.rooms)

    @property
    def participant_count(self) -> int:
        """Participants over all rooms."""
        return sum(len(r.participants) for r in self.rooms.values())

    def join(self, room_name: Any, display_name: Any, identity: str | None = None,
             rights: tuple[str, ...] = ALL_RIGHTS) -> Participant:
        """Add a participant, creating the room if needed; ids are the lowest free in 1..255.
        A display name already used in the room gets a number: ``Ada (2)``."""
        room_name = validate_room_name(room_name)
        display_name = validate_display_name(display_name)
        room = self.rooms.get(room_name)
        if room is not None and len(room.participants) >= self.max_participants:
            raise RoomError("room-full", f"room {room_name!r} is full ({self.max_participants} participants)")
        if room is None:
            if len(self.rooms) >= self.max_rooms:
                raise RoomError("too-many-rooms", f"the server holds its maximum of {self.max_rooms} rooms; "
                                                  "try again later")
            room = self.rooms[room_name] = Room(room_name)
        pid = next(i for i in range(1, MAX_PARTICIPANT_ID + 1) if i not in room.participants)
        participant = Participant(pid, room.unique_name(display_name), room, identity, tuple(rights))
        room.participants[pid] = participant
        return participant

    def leave(self, participant: Participant) -> None:
        """Remove a participant (idempotent); an emptied room disappears."""
        room = participant.room
        if room.participants.get(participant.id) is participant:
            del room.participants[participant.id]
        if not room.participants and self.rooms.get(room.name) is room:
            del self.rooms[room.name]

    def find(self, room_name: str, identity: str) -> Participant | None:
        """The participant of ``room_name`` holding ``identity``, if any."""
        room = self.rooms.get(room_name)
        return room.with_identity(identity) if room is not None else None
