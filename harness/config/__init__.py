"""Typed recipes, their loading and the run spec (run id): below tracking, which records them."""
