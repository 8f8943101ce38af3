"""skysift.infer"""
