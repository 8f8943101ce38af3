"""spark-submit entry point for `skysift embed-images` (see lib/skysift/stages/embed_images/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("embed-images")
