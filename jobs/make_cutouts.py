"""spark-submit entry point for `skysift make-cutouts` (see lib/skysift/stages/make_cutouts/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("make-cutouts")
