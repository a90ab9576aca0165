-- An operator finds an account by its SMS number (`Admin::find`): an index
-- instead of a scan of every user; with the id, it also gives the oldest
-- account of a number first, as the lookup asks. Partial: most users have
-- no phone.
CREATE INDEX IF NOT EXISTS twofa_users_phone ON twofa_users (phone, id) WHERE phone IS NOT NULL;
