-- Every write is first an intent, recorded in the transaction that reserves what it consumes.
-- state: reserved (nothing signed yet) -> sent (a transaction is journalled) -> done | failed.
CREATE TABLE IF NOT EXISTS intent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    key_name TEXT NOT NULL,
    subject TEXT,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    status INTEGER,
    answer TEXT,
    idem_scope TEXT,
    idem_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_intent_state ON intent (state, id);
CREATE INDEX IF NOT EXISTS ix_intent_idem ON intent (idem_scope, idem_key);
-- At most one live intent per subject (a deal's delivery, a campaign's retirement).
CREATE UNIQUE INDEX IF NOT EXISTS ux_intent_live_subject ON intent (subject) WHERE subject IS NOT NULL
    AND state IN ('reserved', 'sent');
-- Every signed transaction, stored before it is sent; id is the order of sending.
-- state: sent -> mined | rejected (the chain refused it: never pending) | dropped (its nonce went to another).
CREATE TABLE IF NOT EXISTS chain_tx (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id INTEGER,
    account TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE,
    raw TEXT NOT NULL,
    state TEXT NOT NULL,
    block_number INTEGER,
    tx_index INTEGER,
    status INTEGER,
    answer TEXT,
    created_at INTEGER NOT NULL,
    -- re-sent after the chain lost it; id_check: NULL until its answered ids are compared with the chain's,
    -- then 'same' or the JSON of what changed
    resent INTEGER NOT NULL DEFAULT 0,
    id_check TEXT
);
CREATE INDEX IF NOT EXISTS ix_chain_tx_intent ON chain_tx (intent_id);
CREATE INDEX IF NOT EXISTS ix_chain_tx_state ON chain_tx (state, id);
CREATE INDEX IF NOT EXISTS ix_chain_tx_account ON chain_tx (account, nonce);
-- Idempotency-Key requests, scoped to the caller's token: the first answer is kept and replayed.
CREATE TABLE IF NOT EXISTS idempotency_key (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    boot TEXT NOT NULL,
    status INTEGER,
    body BLOB,
    content_type TEXT,
    created_at INTEGER NOT NULL,
    -- 1 once a store transaction of the request committed a change (in that very transaction)
    applied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS ix_idempotency_created ON idempotency_key (created_at);
-- An offset's order ids are reserved with its intent; the offset is shown only once done.
ALTER TABLE offset_batch ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
ALTER TABLE offset_batch ADD COLUMN intent_id INTEGER;
ALTER TABLE campaign ADD COLUMN intent_id INTEGER;
ALTER TABLE deal ADD COLUMN intent_id INTEGER;
