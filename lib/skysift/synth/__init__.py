"""skysift.synth"""
