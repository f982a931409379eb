-- Better Auth configured with UUID ids (advanced.database.generateId: "uuid") leaves id
-- out of its inserts on PostgreSQL and counts on the column's default. Give the tables
-- it writes one, so that a Better Auth server sharing this database can create users,
-- accounts, sessions and verification rows. gen_random_uuid() is built in since
-- PostgreSQL 13. The hub still sets every id itself (UUID v7).
ALTER TABLE users ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE account ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE session ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE verification ALTER COLUMN id SET DEFAULT gen_random_uuid();
