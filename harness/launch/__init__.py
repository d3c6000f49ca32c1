"""Launching a recipe's grid of runs: in this process, as local processes, as torchrun DDP jobs, or as a
SLURM job array through submitit (harness/launch/sweep.py); each run's cost estimated from the recipes'
cost table (estimate.py)."""
