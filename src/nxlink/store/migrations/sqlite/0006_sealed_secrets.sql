-- Access secrets are stored sealed (AES-GCM under a master key kept outside the database:
-- nxlink.store.secretbox). access_keys.secret then holds 'v1:' and the sealed value; the
-- plaintext secrets of an older database are sealed in place the first time it is opened
-- with a master key (Store.unlock), in the transaction that stores the key check below.
-- The check is a known text sealed under the key: it tells a wrong key at start.
CREATE TABLE master_key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_id      TEXT    NOT NULL,
    check_value TEXT    NOT NULL
);

-- The recordings' links are signed with a key derived from the master key: the random key
-- 0005 kept in the database goes (links handed out before it end).
DROP TABLE server_keys;
