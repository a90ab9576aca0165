-- The Unicode TR39 confusable skeleton of `username_key`: two names with the
-- same skeleton look alike (`alice` and all-Cyrillic `аӏісе`), so at most one
-- user may hold each. Rows written before this migration get theirs from
-- the store's `migrate()` (computed in Rust); a row whose skeleton equals an
-- older user's keeps NULL, which the unique index allows any number of times.
ALTER TABLE twofa_users ADD COLUMN username_skeleton TEXT COLLATE "C";

CREATE UNIQUE INDEX twofa_users_username_skeleton_uniq ON twofa_users (username_skeleton);
