"""`skysift evaluate-pq`: The PQ validity experiment of Lu et al. 2022 (emission-line galaxies among F stars, 25 segments, K = 2/3/4)."""
