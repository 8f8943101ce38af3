"""spark-submit entry point for `skysift search-kb` (see lib/skysift/stages/search_kb/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("search-kb")
