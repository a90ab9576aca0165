-- Passkeys (WebAuthn credentials), feature `passkeys`.

-- How many passkeys the user has, kept by the triggers below: a passkey
-- counts as a second factor, and a login reads it with the user's row.
ALTER TABLE twofa_users ADD COLUMN passkeys INTEGER NOT NULL DEFAULT 0;

CREATE TABLE twofa_passkeys (
    credential_id   BLOB    NOT NULL PRIMARY KEY,  -- unique across users
    user_id         INTEGER NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,              -- webauthn-rs's Passkey, JSON (public key)
    counter         INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backed_up       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,              -- ms since the Unix epoch
    last_used_at    INTEGER
) WITHOUT ROWID;

CREATE INDEX twofa_passkeys_user ON twofa_passkeys (user_id);

CREATE TRIGGER twofa_passkeys_added AFTER INSERT ON twofa_passkeys
BEGIN
    UPDATE twofa_users SET passkeys = passkeys + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER twofa_passkeys_removed AFTER DELETE ON twofa_passkeys
BEGIN
    UPDATE twofa_users SET passkeys = passkeys - 1 WHERE id = OLD.user_id;
END;
