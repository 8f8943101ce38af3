"""skysift.train"""
