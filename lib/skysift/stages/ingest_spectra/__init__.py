"""`skysift ingest-spectra`: FITS spectra -> the spectra table (resampled, normalised, HEALPix-partitioned) + _rejects."""
