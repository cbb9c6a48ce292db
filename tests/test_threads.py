"""ordered_map: results in order, bounded look-ahead, errors surface, torch threads kept."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from rnognoise.threads import available_cores, default_workers, ordered_map


def test_results_come_in_order_from_several_threads():
    names: set[str] = set()

    def slow_square(i: int) -> int:
        names.add(threading.current_thread().name)
        time.sleep(0.02 * ((7 * i) % 3))  # later items often finish first
        return i * i

    assert list(ordered_map(slow_square, range(12), workers=3)) == [i * i for i in range(12)]
    assert len(names) > 1 and threading.current_thread().name not in names
    names.clear()
    assert list(ordered_map(slow_square, range(4), workers=1)) == [0, 1, 4, 9]
    assert names == {threading.current_thread().name}


def test_no_more_than_workers_items_are_computed_ahead():
    started: list[int] = []

    def record(i: int) -> int:
        started.append(i)
        return i

    results = ordered_map(record, range(100), workers=2)
    assert next(results) == 0
    time.sleep(0.1)
    assert len(started) <= 3  # the one handed out and two ahead of it
    results.close()
    time.sleep(0.05)
    assert len(started) <= 3


def test_an_error_in_a_worker_is_raised_where_its_result_is_reached():
    def fail_at_three(i: int) -> int:
        if i == 3:
            raise ValueError("item 3")
        return i

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for value in ordered_map(fail_at_three, range(10), workers=2):
            got.append(value)
    assert got == [0, 1, 2]


def test_workers_run_torch_single_threaded_and_the_caller_keeps_its_setting():
    before = torch.get_num_threads()
    seen = list(ordered_map(lambda _: torch.get_num_threads(), range(4), workers=2))
    assert seen == [1, 1, 1, 1]
    assert torch.get_num_threads() == before
    # threads started afterwards get the caller's setting again, not the workers'
    later: list[int] = []
    t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert later == [before]


def test_default_workers_follow_torch_threads_and_cores():
    assert default_workers(torch.device("cuda")) == 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert default_workers(torch.device("cpu")) == 1
        torch.set_num_threads(64)
        assert default_workers(torch.device("cpu")) == min(64, available_cores())
    finally:
        torch.set_num_threads(before)
