"""The hourly ring behind LuCI's charts: rollover, gaps, a clock going back, the 24 h and 30-day views."""

from __future__ import annotations

from secumail.appliance import hourly

H = 3600
T0 = 1_796_529_600  # an hour's start (2026-12-06 ... UTC)


def _totals(received: int = 0, sent: int = 0, rejected: int = 0) -> dict[str, int]:
    return {"received": received, "sent": sent, "rejected": rejected, "deferred": 0, "bounced": 0}


def test_first_update_takes_a_baseline_and_later_ones_add_the_growth() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0 + 10, _totals(100, 90, 5))  # what the logs held before: not this hour's
    hourly.add(ring, T0 + 600, _totals(103, 92, 5))
    hourly.add(ring, T0 + 1200, _totals(104, 92, 6))
    now = hourly.hours(ring, T0 + 1300)[-1]
    assert (now["start"], now["received"], now["sent"], now["rejected"]) == (T0, 4, 2, 1)


def test_rollover_starts_a_new_bucket_each_hour_and_reuses_slots_after_30_days() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0, _totals(0))
    hourly.add(ring, T0 + 10, _totals(5))
    hourly.add(ring, T0 + H + 10, _totals(7))
    rows = hourly.hours(ring, T0 + H + 20)
    assert [r["received"] for r in rows[-2:]] == [5, 2]
    later = T0 + hourly.SLOTS * H + 10  # the same slot as T0, 30 days on
    hourly.add(ring, later, _totals(8))
    assert hourly.hours(ring, later)[-1]["received"] == 1
    assert ring.bucket(T0 // H) is None  # overwritten, not added to


def test_gaps_while_the_router_was_off_have_no_data_and_the_growth_lands_afterwards() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0, _totals(0))
    hourly.add(ring, T0 + 5 * H + 1, _totals(3))
    rows = hourly.hours(ring, T0 + 5 * H + 2, count=6)
    assert [r["received"] for r in rows] == [0, None, None, None, None, 3]
    assert all(r["queue"] is None for r in rows)


def test_a_small_step_back_keeps_counting_into_the_newest_bucket() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0 + H + 5, _totals(0))
    hourly.add(ring, T0 + H - 30, _totals(2))  # NTP pulled the clock back over the hour
    assert ring.bucket(T0 // H + 1)[1] == 2
    assert ring.bucket(T0 // H) is None


def test_a_big_step_back_drops_the_wrong_clocks_future_buckets() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0, _totals(0))
    hourly.add(ring, T0 + 1, _totals(4))
    hourly.add(ring, T0 + 48 * H, _totals(9))  # a clock two days ahead
    hourly.add(ring, T0 + 2 * H, _totals(10))  # corrected
    assert ring.bucket(T0 // H + 48) is None
    assert ring.last_hour == T0 // H + 2
    assert [r["received"] for r in hourly.hours(ring, T0 + 2 * H, count=3)] == [4, None, 1]


def test_a_new_ring_counts_the_first_reads_growth_when_the_totals_before_it_are_known() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0 + 10, _totals(12, 12), before=_totals(0))
    assert hourly.hours(ring, T0 + 20)[-1]["received"] == 12
    hourly.add(ring, T0 + 30, _totals(13, 12), before=_totals(12, 12))  # `before` only counts for a new ring
    assert hourly.hours(ring, T0 + 40)[-1]["received"] == 13


def test_a_counter_reset_takes_a_new_baseline_without_adding() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0, _totals(50))
    hourly.add(ring, T0 + 1, _totals(52))
    hourly.add(ring, T0 + 2, _totals(3))  # state.json deleted: counting from the logs' start again
    hourly.add(ring, T0 + 3, _totals(4))
    assert ring.bucket(T0 // H)[1] == 3


def test_the_queue_sample_is_the_hours_last_one() -> None:
    ring = hourly.Ring()
    hourly.sample_queue(ring, T0 + 1, 7)
    hourly.sample_queue(ring, T0 + 2, 3)
    assert hourly.hours(ring, T0 + 3)[-1]["queue"] == 3


def test_the_30_day_view_sums_each_utc_day() -> None:
    ring = hourly.Ring()
    day0 = (T0 // 86400) * 86400
    hourly.add(ring, day0 - 86400, _totals(0))
    for h in range(24):
        hourly.add(ring, day0 - 86400 + h * H + 1, _totals(h + 1, h + 1))
        hourly.sample_queue(ring, day0 - 86400 + h * H + 2, 9 if h == 5 else 1)
    hourly.add(ring, day0 + 1, _totals(30, 24))
    rows = hourly.days(ring, day0 + 2)
    assert len(rows) == 30
    assert rows[-2] == {"start": day0 - 86400, "hours": 24, "received": 24, "sent": 24, "rejected": 0,
                        "deferred": 0, "bounced": 0, "queue": 9}
    assert (rows[-1]["received"], rows[-1]["sent"], rows[-1]["hours"]) == (6, 0, 1)
    assert rows[0]["received"] is None and rows[0]["hours"] == 0


def test_encode_decode_round_trip_is_fixed_size() -> None:
    ring = hourly.Ring()
    hourly.add(ring, T0, _totals(1))
    hourly.add(ring, T0 + 1, _totals(2, 1, 1))
    hourly.sample_queue(ring, T0 + 2, 4)
    data = hourly.encode(ring)
    assert len(data) == hourly.SIZE == 20216
    back = hourly.decode(data)
    assert back == ring
    assert hourly.encode(hourly.Ring()) != data


def test_anything_else_decodes_as_an_empty_ring() -> None:
    for junk in (b"", b"SMHR" + bytes(hourly.SIZE - 4), bytes(hourly.SIZE), b"x" * 10):
        ring = hourly.decode(junk)
        assert ring.last_hour == 0 and ring.baseline is None
