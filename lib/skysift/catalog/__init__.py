"""Reference catalogs -> the `labels` table (skysift load-catalog)."""
