"""ultralytics arguments of the paper profile and the offline set-up (no ultralytics import, no training here)."""
from __future__ import annotations

import os
import sys

import pytest

from skysift.config import ConfigError
from skysift.detection.yolo_train import PROFILES, YoloTrainConfig, offline_environment, train_args


def test_paper_profile_is_the_papers_settings(tmp_path):
    args = train_args(YoloTrainConfig(**PROFILES["paper"], device="cpu"), tmp_path / "data.yaml", tmp_path)
    assert (args["epochs"], args["patience"], args["batch"], args["imgsz"]) == (200, 50, 32, 640)
    # Mosaic, Mixup, random perspective and HSV all on (ultralytics leaves mixup and perspective at 0)
    assert args["mosaic"] > 0 and args["mixup"] > 0 and args["perspective"] > 0
    assert args["hsv_h"] > 0 and args["hsv_s"] > 0 and args["hsv_v"] > 0
    assert args["amp"] is False and args["single_cls"] is True and args["device"] == "cpu"


def test_offline_environment_font_and_no_import(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    offline_environment(tmp_path)
    assert (tmp_path / "Ultralytics" / "Arial.ttf").stat().st_size > 10000
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_CONFIG_DIR"] == str(tmp_path)
    # importing skysift.detection modules never imports ultralytics (AGPL-3.0, optional extra)
    import subprocess

    code = ("import skysift.detection.yolo_train, skysift.detection.training_sets, skysift.detection.merge, "
            "skysift.detection.inference, skysift.detection.tile_pass, skysift.stages.detect_sources.job, "
            "skysift.demo.detection, sys; print('ultralytics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True)
    assert out.stdout.strip() == "False"


def test_cpu_profile_settings_reach_ultralytics(tmp_path):
    cfg = YoloTrainConfig(optimizer="AdamW", lr0=0.004, warmup_epochs=1, close_mosaic=5, scale_gain=0.3, device="cpu")
    args = train_args(cfg, tmp_path / "data.yaml", tmp_path)
    assert (args["optimizer"], args["lr0"], args["warmup_epochs"], args["close_mosaic"]) == ("AdamW", 0.004, 1, 5)
    assert args["scale"] == 0.3  # ultralytics' name of the affine scale gain (skysift's 'scale' is the model scale)


@pytest.mark.parametrize("kwargs", [{"imgsz": 100}, {"scale": "q"}, {"perspective": 0.01}, {"mixup": 2.0},
                                    {"optimizer": "Lion"}, {"scale_gain": 1.0}, {"lr0": 0.0}])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        YoloTrainConfig(**kwargs)
