"""`skysift dedupe`: Merge repeated detections within a radius (friends-of-friends), keeping the best row, with n_merged."""
