"""Readers and writers: survey FITS files in, Parquet / FITS / HATS tables out."""
