"""skysift.images"""
