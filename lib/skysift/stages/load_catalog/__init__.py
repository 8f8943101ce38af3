"""`skysift load-catalog`: A reference catalog (csv/fits/votable/parquet) -> a labels table, by spec_id or by sky position."""
