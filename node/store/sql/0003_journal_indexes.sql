-- The reconciler looks for re-sent transactions to verify on every pass, and a recovery for transactions
-- mined from a block on: neither should read the whole journal.
CREATE INDEX IF NOT EXISTS ix_chain_tx_to_verify ON chain_tx (id) WHERE resent = 1 AND id_check IS NULL;
CREATE INDEX IF NOT EXISTS ix_chain_tx_block ON chain_tx (block_number) WHERE block_number IS NOT NULL;
