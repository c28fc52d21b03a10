"""Rooms and participants: who is in which call. Synchronous bookkeeping, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ROOM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_DISPLAY_NAME = 64
MAX_PARTICIPANT_ID = 255  # sender ids travel in one byte of every audio packet


class RoomError(ValueError):
    """A join that cannot be honoured: bad room or display name, or a full room."""

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
    """One person in a room. ``id`` is unique within the room and tags their audio packets."""

    id: int
    name: str
    room: "Room"
    # Whatever the server attaches (its connection object); rooms never look inside.
    endpoint: Any = None

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


class RoomRegistry:
    """All rooms of a server. Rooms are created on first join and removed when empty."""

    def __init__(self, max_participants: int = 16) -> None:
        if not 2 <= max_participants <= MAX_PARTICIPANT_ID:
            raise ValueError(f"max_participants must be in 2..{MAX_PARTICIPANT_ID}")
        self.max_participants = max_participants
        self.rooms: dict[str, Room] = {}

    @property
    def participant_count(self) -> int:
        """Participants over all rooms."""
        return sum(len(r.participants) for r in self.rooms.values())

    def join(self, room_name: Any, display_name: Any) -> Participant:
        """Add a participant, creating the room if needed; ids are the lowest free in 1..255."""
        room_name = validate_room_name(room_name)
        display_name = validate_display_name(display_name)
        room = self.rooms.get(room_name)
        if room is not None and len(room.participants) >= self.max_participants:
            raise RoomError("room-full", f"room {room_name!r} is full ({self.max_participants} participants)")
        if room is None:
            room = self.rooms[room_name] = Room(room_name)
        pid = next(i for i in range(1, MAX_PARTICIPANT_ID + 1) if i not in room.participants)
        participant = Participant(pid, display_name, room)
        room.participants[pid] = participant
        return participant

    def leave(self, participant: Participant) -> None:
        """Remove a participant (idempotent); an emptied room disappears."""
        room = participant.room
        if room.participants.get(participant.id) is participant:
            del room.participants[participant.id]
        if not room.participants and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
