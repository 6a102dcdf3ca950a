"""Exactly-once writes.

A write is an intent first (node.store.intents), recorded in the transaction that reserves what it
consumes; its transaction is signed and journalled before it is sent (node.chain.sender with the store as
journal); its answer is derived from the intent and stored with it. `runner` carries one write through,
`recovery` re-sends journalled transactions a chain lacks, and `reconciler` settles what a request left
behind (a 202, a crash) and applies what follows from indexed events (deliveries, rebates).
"""
