-- Recordings on object storage: the reconcile pass and `securecam migrate-blobs` walk
-- the recordings of one bucket in the byte order of their object keys (SQLite compares
-- text as bytes), the order S3 lists objects in.
CREATE INDEX IF NOT EXISTS recordings_object_idx ON recordings (bucket, object_key) WHERE object_key IS NOT NULL;
