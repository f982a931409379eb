-- Hardening: a failed command was never acknowledged, so it carries no acknowledged_at
-- (its time is updated_at); expired verification rows are purged by expiry.
UPDATE commands SET acknowledged_at = NULL WHERE status = 'failed' AND acknowledged_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS verification_expires_idx ON verification (expires_at);
