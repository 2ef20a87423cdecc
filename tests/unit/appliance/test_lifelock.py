"""The lifecycle lock: held by one entry at a time, seen as busy by everyone else, gone with its holder."""

from __future__ import annotations

import os
import threading

from secumail.appliance import lifelock
from tests.support.settings import make_settings


def test_busy_only_while_someone_holds_it(tmp_path):
    settings = make_settings(tmp_path)
    assert not lifelock.busy(settings)  # no lock file yet: nobody ever held it
    with lifelock.exclusive(settings):
        assert lifelock.busy(settings)
        assert os.stat(os.path.join(settings.main.data_path, ".lifecycle.lock")).st_mode & 0o077 == 0
    assert not lifelock.busy(settings)


def test_a_second_holder_waits_for_the_first(tmp_path):
    settings = make_settings(tmp_path)
    order: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with lifelock.exclusive(settings):
            order.append("first in")
            first_in.set()
            release.wait(10)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    threading.Timer(0.2, release.set).start()
    with lifelock.exclusive(settings):
        order.append("second in")
    thread.join(10)
    assert order == ["first in", "first out", "second in"]
