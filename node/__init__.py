"""sinkledger node: chain client, deployment and (later) indexer and HTTP service."""
