"""spark-submit entry point for `skysift search-images` (see lib/skysift/stages/search_images/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("search-images")
