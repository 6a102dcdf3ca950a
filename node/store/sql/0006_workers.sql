-- The processes serving this node (several API workers share one store): each says it is alive every
-- second or so; an intent records the process carrying it, so that another process's reconciler leaves it
-- alone while that process lives and settles it once the process is gone.
CREATE TABLE IF NOT EXISTS node_worker (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
);
