"""skysift.spectra"""
