"""`skysift detect-sources`: YOLOv8 detection on tiles + Conv4Net classes on executors, merged and de-duplicated into a source catalog (Zhao et al. 2025), matched to a photometric catalog."""
