"""spark-submit entry point for `skysift embed-spectra` (see lib/skysift/stages/embed_spectra/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("embed-spectra")
