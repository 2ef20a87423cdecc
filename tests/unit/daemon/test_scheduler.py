from secumail.daemon.scheduler import Scheduler


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_timers_fire_in_time_order_and_only_when_due():
    clock = Clock()
    s = Scheduler(clock)
    s.after("daily", 86400)
    s.after("reconcile", 60)
    s.after("soon", 5)
    assert s.next_delay() == 5
    assert s.pop_due() == []
    clock.t += 61
    assert s.pop_due() == ["soon", "reconcile"]
    assert s.next_delay() == 86400 - 61
    assert len(s) == 1


def test_setting_a_timer_again_replaces_it():
    clock = Clock()
    s = Scheduler(clock)
    s.after("reconcile", 10)
    s.after("reconcile", 100)
    clock.t += 50
    assert s.pop_due() == []
    clock.t += 50
    assert s.pop_due() == ["reconcile"]
    assert s.next_delay() is None


def test_cancel_and_no_growth_over_many_reschedules():
    clock = Clock()
    s = Scheduler(clock)
    for i in range(100_000):
        s.after("reconcile", 60 + i % 7)
        s.after("mesh", 3600)
    assert len(s._heap) < 100  # replaced entries are compacted away
    s.cancel("mesh")
    clock.t += 70
    assert s.pop_due() == ["reconcile"]
    assert s.next_delay() is None
