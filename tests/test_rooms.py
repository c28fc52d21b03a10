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


def test_a_name_in_use_gets_a_number_and_identities_are_found():
    rooms = RoomRegistry()
    a = rooms.join("r", "Ada", identity="ada-1")
    b = rooms.join("r", "ada", identity="ada-2")
    c = rooms.join("r", "Ada", identity="ada-3")
    assert [a.name, b.name, c.name] == ["Ada", "ada (2)", "Ada (3)"]
    long = rooms.join("r", "x" * 64)
    assert rooms.join("r", "x" * 64).name == "x" * 60 + " (2)" and long.name == "x" * 64
    assert rooms.find("r", "ada-2") is b and rooms.find("r", "nobody") is None and rooms.find("zz", "ada-1") is None
    rooms.join("other", "Ada")  # names are per room
    assert rooms.rooms["other"].participants[1].name == "Ada"


def test_rights_travel_with_the_participant():
    p = RoomRegistry().join("r", "Lu", rights=("subscribe",))
    assert not p.can_publish and p.can_subscribe


def test_the_number_of_rooms_is_bounded():
    rooms = RoomRegistry(max_rooms=2)
    rooms.join("a", "x")
    rooms.join("b", "x")
    with pytest.raises(RoomError) as err:
        rooms.join("c", "x")
    assert err.value.code == "too-many-rooms"
    rooms.join("a", "y")  # joining an existing room still works
    assert rooms.room_count == 2
