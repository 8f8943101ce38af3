"""`skysift synth-survey`: The built-in synthetic survey with known truth: real-format FITS spectra (SDSS/BOSS/LAMOST) + truth table, or the spectra table directly."""
