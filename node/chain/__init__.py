"""Everything that talks to the chain: build, local anvil, keys, sending, the registry client."""
