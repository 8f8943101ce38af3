"""`skysift predict-sfr`: log SFR of every object of a `multimodal` table with a registered SFR model (skysift-sfr@champion), on the executors."""
