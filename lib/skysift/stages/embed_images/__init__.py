"""`skysift embed-images`: Patch features and pooled vectors of an images table (stamps or cutouts) with the registered image encoder, on the executors."""
