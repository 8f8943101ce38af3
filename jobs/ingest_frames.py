"""spark-submit entry point for `skysift ingest-frames` (see lib/skysift/stages/ingest_frames/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("ingest-frames")
