"""Allocating a purchase of a bundle across its constituents, in whole grams.

Largest-remainder rule (Hamilton): constituent i with remaining capacity c_i of a total C receives
floor(q·c_i / C) grams, and the q − Σ floor(...) grams left over go one each to the constituents with the
largest remainders (q·c_i mod C), ties to the lower batch id. The fractions of the shares sum to that
leftover, so only constituents with a non-zero remainder receive one, and floor(x) + 1 ≤ c_i whenever
x = q·c_i / C < c_i is not whole: no constituent ever gets more than it has left. The result depends only
on q and the capacities, so every node computes the same allocation.
"""

from registry.errors import InputRefused


def allocate(quantity: int, capacities: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(batch id, grams) for `quantity` grams over (batch id, remaining grams) pairs, in batch id order;
    constituents that receive nothing are left out."""
    ordered = sorted(capacities)
    total = sum(cap for _, cap in ordered)
    if any(cap < 0 for _, cap in ordered) or len({b for b, _ in ordered}) != len(ordered):
        raise InputRefused("capacities", "distinct batches, none negative")
    if not 0 < quantity <= total:
        raise InputRefused("quantity", f"between 1 and the {total} g the bundle has left")
    shares = [(batch, quantity * cap // total, quantity * cap % total) for batch, cap in ordered]
    leftover = quantity - sum(base for _, base, _ in shares)
    ranked = sorted(range(len(shares)), key=lambda i: (-shares[i][2], shares[i][0]))
    bonus = set(ranked[:leftover])
    allocation = [(batch, base + (i in bonus)) for i, (batch, base, _) in enumerate(shares)]
    return [(batch, grams) for batch, grams in allocation if grams]
