"""Where skysift finds its conf/ folder and writes run state."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def conf_dir() -> Path:
    """The conf/ folder: $SKYSIFT_CONF_DIR, else the repository's conf/ beside lib/."""
    return Path(os.environ.get("SKYSIFT_CONF_DIR", REPO_ROOT / "conf"))


def default_job_config(job_name: str) -> Path | None:
    """conf/<job_name with dashes as underscores>.yaml when it exists."""
    path = conf_dir() / f"{job_name.replace('-', '_')}.yaml"
    return path if path.exists() else None


def shared_data_dir() -> Path | None:
    """The real survey sample (../shared/data beside the repo), or $SKYSIFT_SHARED_DATA; None when absent."""
    env = os.environ.get("SKYSIFT_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None
