"""The pipeline's steps that use the model: train_prior/ (train the prior on the synthetic prior
set), inspect_prior.py (what its features learned), fit.py (fit an avatar to a person's views),
evaluate.py (metrics on held-out views), export.py (.ply, turntables, animation, figures) and
report/ (the paper's tables); losses.py holds the training and fitting losses."""
