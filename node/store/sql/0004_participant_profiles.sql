-- A participant's display name: an off-chain profile field the administrator sets at registration, shown on
-- the pages beside the address (the chain knows only the address, its organisation and its roles).
CREATE TABLE IF NOT EXISTS participant_profile (
    account TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    set_at INTEGER NOT NULL
);
