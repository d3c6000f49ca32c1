"""Launching a recipe's grid of runs (local now; torchrun and SLURM executors follow)."""
