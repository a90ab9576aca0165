-- twofa-verify: users, recovery codes and short-lived state (PostgreSQL).
-- Every object is prefixed with `twofa_` so that the tables can live in an
-- application's own database (or schema) without colliding with its tables.

CREATE TABLE twofa_users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL,
    username_key  TEXT   COLLATE "C" NOT NULL, -- lower case, unique (byte-wise)
    email         TEXT   COLLATE "C" NOT NULL, -- lower case, unique (byte-wise)
    password_hash TEXT   NOT NULL,             -- PHC string
    phone         TEXT,                        -- E.164, SMS factor
    totp_key_id   BIGINT,                      -- TOTP secret: sealing key id ...
    totp_sealed   BYTEA,                       -- ... and nonce + ciphertext + tag
    created_at    BIGINT NOT NULL,             -- ms since the Unix epoch
    CONSTRAINT twofa_users_username_key_uniq UNIQUE (username_key),
    CONSTRAINT twofa_users_email_uniq UNIQUE (email),
    CONSTRAINT twofa_users_totp_check CHECK ((totp_key_id IS NULL) = (totp_sealed IS NULL))
);

CREATE TABLE twofa_recovery_codes (
    user_id   BIGINT NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    code_hash BYTEA  NOT NULL CHECK (octet_length(code_hash) = 32), -- keyed hash of the code
    PRIMARY KEY (user_id, code_hash)
);

-- Short-lived state. `value` holds the bytes of put/put_if_absent entries,
-- `num` the number of increment/advance entries (the two kinds of keys never
-- collide). An entry whose expires_at <= now is absent.
CREATE TABLE twofa_state (
    key        TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    value      BYTEA  NOT NULL,
    num        BIGINT NOT NULL,
    expires_at BIGINT NOT NULL -- ms since the Unix epoch
);

CREATE INDEX twofa_state_expires_at ON twofa_state (expires_at);
