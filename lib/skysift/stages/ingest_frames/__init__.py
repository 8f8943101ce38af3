"""`skysift ingest-frames`: survey image frames -> a `fields` table (registered bands, WCS, sky noise) and overlapping `tiles` (HEALPix-partitioned) + _rejects."""
