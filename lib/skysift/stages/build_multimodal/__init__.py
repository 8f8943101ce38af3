"""`skysift build-multimodal`: cutouts + spectra + an MPA-JHU-like SFR table -> one `multimodal` row per labelled object (FLAG = 0) + _rejects."""
