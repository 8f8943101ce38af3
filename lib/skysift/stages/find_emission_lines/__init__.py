"""`skysift find-emission-lines`: Emission-line galaxies and Galactic H II regions in unclassified spectra (Lu et al. 2022): lines, CL redshift, PQ templates, BPT / H II, "new"."""
