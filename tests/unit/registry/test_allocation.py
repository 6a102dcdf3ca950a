"""Bundle allocation: whole grams, exactly q, never over a constituent's capacity, deterministic."""

from hypothesis import given
from hypothesis import strategies as st

from registry.allocation import allocate
from registry.errors import InputRefused

capacities = st.dictionaries(st.integers(1, 2**40), st.integers(0, 10**12), min_size=1, max_size=12).filter(
    lambda caps: sum(caps.values()) > 0
)


@given(capacities, st.data())
def test_allocation_sums_to_q_and_never_over_allocates(caps, data):
    total = sum(caps.values())
    quantity = data.draw(st.integers(1, total))
    allocation = allocate(quantity, list(caps.items()))
    assert sum(grams for _, grams in allocation) == quantity
    assert all(0 < grams <= caps[batch] for batch, grams in allocation)
    # Within one gram of the exact proportional share.
    for batch, grams in allocation:
        assert abs(grams * total - quantity * caps[batch]) < total
    assert allocate(quantity, list(reversed(list(caps.items())))) == allocation


@given(capacities, st.data())
def test_repeated_purchases_never_exhaust_a_constituent_beyond_its_share(caps, data):
    left = dict(caps)
    for _ in range(data.draw(st.integers(1, 8))):
        total = sum(left.values())
        if total == 0:
            break
        for batch, grams in allocate(data.draw(st.integers(1, total)), list(left.items())):
            left[batch] -= grams
    assert all(0 <= grams <= caps[batch] for batch, grams in left.items())


def test_a_worked_example():
    # 1,000 g over 1:1:1 gives 334/333/333: the leftover gram goes to the lowest batch id on a tie.
    assert allocate(1_000, [(7, 10**6), (3, 10**6), (5, 10**6)]) == [(3, 334), (5, 333), (7, 333)]
    assert allocate(5, [(1, 1), (2, 100)]) == [(2, 5)]


def test_refusals():
    for quantity, caps in ((0, [(1, 5)]), (6, [(1, 5)]), (1, [(1, 5), (1, 5)]), (1, [(1, -1), (2, 3)])):
        try:
            allocate(quantity, caps)
        except InputRefused:
            continue
        raise AssertionError(f"{quantity} over {caps} was accepted")
