"""`skysift make-cutouts`: catalog positions -> square multi-band `cutouts` (+ downsampled levels) from the fields that hold them + _rejects."""
