"""Extract-load: raw S3 objects into staging.raw_events (manifest, COPY, rejects)."""
