"""The per-model memo: bounded by bytes, values tied to their source object's life."""

import gc

import torch

from core.util.memo import BoundedMemo


def test_values_are_made_once_and_the_oldest_dropped_past_the_bound():
    memo = BoundedMemo(max_bytes=3 * 400)
    made = []

    def make(i):
        made.append(i)
        return torch.zeros(100)  # 400 bytes

    for i in range(4):
        memo.get_or_make(i, lambda i=i: make(i))
    memo.get_or_make(3, lambda: make(99))
    assert made == [0, 1, 2, 3] and len(memo) == 3
    memo.get_or_make(0, lambda: make(0))  # dropped, so made again
    assert made == [0, 1, 2, 3, 0]


def test_none_is_not_kept():
    memo = BoundedMemo()
    assert memo.get_or_make("k", lambda: None) is None
    assert len(memo) == 0


def test_derived_values_follow_their_object_not_a_reused_id():
    memo = BoundedMemo()
    a = torch.ones(3)
    first = memo.for_object(a, "eigen", lambda: torch.tensor(3.0))
    assert memo.for_object(a, "eigen", lambda: torch.tensor(-1.0)) is first
    del a
    gc.collect()
    b = torch.ones(3) * 2
    assert float(memo.for_object(b, "eigen", lambda: b.sum())) == 6.0
