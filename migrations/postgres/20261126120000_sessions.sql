-- Session stamps and remembered devices.

-- Goes up at every change of a credential or factor and at "sign out
-- everywhere"; sessions, pending logins and devices of an older value are void.
ALTER TABLE twofa_users ADD COLUMN credential_generation BIGINT NOT NULL DEFAULT 0;

CREATE TABLE twofa_devices (
    token_hash            BYTEA  NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32), -- keyed hash of the token
    id                    TEXT   COLLATE "C" NOT NULL, -- public id, for listing and revoking
    user_id               BIGINT NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    credential_generation BIGINT NOT NULL,
    label                 TEXT   NOT NULL,
    created_at            BIGINT NOT NULL,             -- ms since the Unix epoch
    last_used_at          BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    CONSTRAINT twofa_devices_id_uniq UNIQUE (id)
);

CREATE INDEX twofa_devices_user ON twofa_devices (user_id);
