"""`skysift crossmatch`: Sky cross-match of two catalogs on Spark (HEALPix buckets, exact separations), nearest or all pairs."""
