"""server/worker_directory.py: rooms stay on their worker, spread over live ones, move when it dies."""
import pytest

from server.worker_directory import NoWorker, WorkerDirectory


def test_rooms_spread_and_stay_put():
    d = WorkerDirectory()
    with pytest.raises(NoWorker):
        d.route("a")
    d.worker_up(0)
    d.worker_up(1)
    assert d.route("a") == 0 and d.route("b") == 1 and d.route("a") == 0 and d.route("c") == 0
    assert d.room_count == 3 and d.socket_count == 4 and d.rooms_of(0) == 2


def test_a_room_is_forgotten_with_its_last_socket():
    d = WorkerDirectory()
    d.worker_up(0)
    d.worker_up(1)
    d.route("a"), d.route("a"), d.route("b")
    assert not d.release("a", 0) and d.owner("a") == 0 and d.sockets("a") == 1
    assert d.release("a", 0) and d.owner("a") is None
    assert d.route("c") == 0  # worker 0 is free again


def test_a_dead_workers_rooms_move_to_the_live_one_and_late_releases_are_ignored():
    d = WorkerDirectory()
    d.worker_up(0)
    d.worker_up(1)
    d.route("a"), d.route("a"), d.route("b")
    assert d.worker_down(0) == ["a"]
    assert d.route("a") == 1
    d.release("a", 0)  # a socket of the dead worker closing late
    assert d.owner("a") == 1 and d.socket_count == 2
    d.worker_up(0)
    assert d.route("c") == 0
