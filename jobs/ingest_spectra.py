"""spark-submit entry point for `skysift ingest-spectra`."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("ingest-spectra")
