-- The audit trail: security events per user (no secrets, no full IP address).
CREATE TABLE twofa_audit (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- grows with each append
    user_id   BIGINT NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,                  -- ms since the Unix epoch
    kind      TEXT   NOT NULL,                  -- stable snake_case event name
    detail    TEXT,
    network   TEXT,                             -- /24 or /48, never the address
    device    TEXT,
    operator  TEXT,
    reason    TEXT
);

CREATE INDEX twofa_audit_user ON twofa_audit (user_id, id);
CREATE INDEX twofa_audit_at ON twofa_audit (at);
