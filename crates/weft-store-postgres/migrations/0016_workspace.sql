-- Workspaces (hatchery): one row per user, kept after the workspace stops; the pay models
-- a user's workspaces are charged to and the metered stretches charged to them; the
-- manifests, cohorts and metadata files a user exports (manifestservice); the refresh
-- tokens the workspace token service holds per user and identity provider. Times are Unix
-- seconds (manifests: milliseconds). Columns that would be keywords are renamed:
-- `username` (user), `from_at`/`to_at` (from/to), `is_local`, `is_current`.
CREATE TABLE workspace (
    username TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    handle TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT,
    secret TEXT NOT NULL,
    account TEXT,
    api_key_id TEXT,
    started_at BIGINT NOT NULL,
    stopped_at BIGINT,
    last_activity BIGINT NOT NULL,
    metered_to BIGINT NOT NULL
);

CREATE TABLE workspace_pay_model (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    workspace_type TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    is_local BOOLEAN NOT NULL,
    request_status TEXT NOT NULL,
    soft_limit DOUBLE PRECISION NOT NULL,
    hard_limit DOUBLE PRECISION NOT NULL,
    total_usage DOUBLE PRECISION NOT NULL,
    is_current BOOLEAN NOT NULL
);
CREATE INDEX workspace_pay_model_user_idx ON workspace_pay_model (username, id);
-- At most one current pay model per user.
CREATE UNIQUE INDEX workspace_pay_model_current_idx ON workspace_pay_model (username)
    WHERE is_current;

CREATE TABLE workspace_usage (
    username TEXT NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_at BIGINT NOT NULL,
    to_at BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL
);
CREATE INDEX workspace_usage_user_idx ON workspace_usage (username, from_at);
CREATE INDEX workspace_usage_to_idx ON workspace_usage (to_at);

CREATE TABLE workspace_manifest (
    username TEXT NOT NULL,
    folder TEXT NOT NULL,
    filename TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (username, folder, filename)
);

CREATE TABLE workspace_external_token (
    username TEXT NOT NULL,
    idp TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (username, idp)
);
