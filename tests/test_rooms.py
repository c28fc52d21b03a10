import pytest

from server.rooms import RoomError, RoomRegistry


def test_rooms_are_created_on_first_join_and_removed_when_empty():
    rooms = RoomRegistry()
    a = rooms.join("standup", "Ada")
    b = rooms.join("standup", "Bo")
    assert (a.id, b.id) == (1, 2)
    assert rooms.participant_count == 2 and list(rooms.rooms) == ["standup"]
    assert rooms.rooms["standup"].others(a) == [b]
    rooms.leave(a)
    rooms.leave(a)  # idempotent
    assert rooms.participant_count == 1
    c = rooms.join("standup", "Cy")
    assert c.id == 1  # lowest free id is reused
    rooms.leave(b)
    rooms.leave(c)
    assert rooms.rooms == {}


@pytest.mark.parametrize("room", ["", "a b", "-x", "x" * 65, None, 3, "é"])
def test_bad_room_names_are_refused_with_a_reason(room):
    with pytest.raises(RoomError) as err:
        RoomRegistry().join(room, "Ada")
    assert err.value.code == "bad-room"
    assert "room name must be" in str(err.value)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "a\nb", None])
def test_bad_display_names_are_refused(name):
    with pytest.raises(RoomError) as err:
        RoomRegistry().join("room", name)
    assert err.value.code == "bad-name"


def test_full_room_is_refused():
    rooms = RoomRegistry(max_participants=2)
    rooms.join("r", "a")
    rooms.join("r", "b")
    with pytest.raises(RoomError) as err:
        rooms.join("r", "c")
    assert err.value.code == "room-full"
    rooms.join("other", "c")  # other rooms are unaffected
