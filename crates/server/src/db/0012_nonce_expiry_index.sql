-- Every signed request deletes the nonces that have expired: without an
-- index that is a scan of the whole table (one row per request in the last
-- ten minutes), on every request.
CREATE INDEX request_nonces_expires_at ON request_nonces(expires_at);
