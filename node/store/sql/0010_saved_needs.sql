-- Needs a buyer saved (discovery's query, kept as canonical JSON), and the listings that later fitted one: a
-- listing is noticed once per need (the key), whichever of the node's workers saw it first.
CREATE TABLE IF NOT EXISTS saved_need (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    label TEXT NOT NULL,
    need TEXT NOT NULL,
    after_listing INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    dropped_at INTEGER
);
CREATE INDEX IF NOT EXISTS ix_saved_need_owner ON saved_need (owner, id);
CREATE TABLE IF NOT EXISTS need_notice (
    need_id INTEGER NOT NULL,
    listing_id INTEGER NOT NULL,
    noticed_at INTEGER NOT NULL,
    PRIMARY KEY (need_id, listing_id)
);
