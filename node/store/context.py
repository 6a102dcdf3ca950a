"""What the store knows of the request it serves."""

from contextvars import ContextVar

# The Idempotency-Key (scope, key) of the request being served: an intent records it, and a store
# transaction that writes marks the key applied in the same commit (node.store.base).
CURRENT_KEY: ContextVar[tuple[str, str] | None] = ContextVar("sinknode_idempotency", default=None)
