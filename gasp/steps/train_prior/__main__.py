"""The torchrun re-entry: `gasp train-prior --nproc K` re-executes `python -m gasp.steps.train_prior ARGS`
in each process (gasp/cli/prior.py), which hands its arguments back to the CLI."""
import sys

from gasp.cli import main

sys.exit(main(["train-prior", *sys.argv[1:]]))
