"""The node's own off-chain database (node.sqlite): everything the chain does not hold.

Tokens, evidence computations, listings, offers, deals, receipts, deposits, campaigns, offsets, points,
alert handling, measures, and the write path's intents, transaction journal and idempotency keys. The
index (node.index) can always be rebuilt from the chain; this store cannot, so it is migrated, never
rebuilt: numbered migrations (node.store.migrations) are applied on open.

`Store` gathers one class per aggregate, each in its own module holding all the SQL of its tables, over
one connection (node.store.base) with one transaction helper.
"""

from node.store.accounting import Accounting
from node.store.idempotency import Idempotency
from node.store.intents import Intents
from node.store.journal import Journal
from node.store.listings import Listings
from node.store.offsets import Offsets
from node.store.peering import Peering
from node.store.points import Points
from node.store.querylog import QueryLog
from node.store.tokens import TokenOwner, Tokens
from node.store.workers import Workers


class Store(Tokens, Accounting, Listings, Offsets, Points, QueryLog, Intents, Journal, Idempotency, Workers, Peering):
    """The node's store: open it with the path of node.sqlite; migrations run on open."""


__all__ = ["Store", "TokenOwner"]
