"""panbench analysis: the papers' tables and figures from the run store or the published numbers.

Pipeline position: runs (harness.tracking) -> analysis. Pure numeric functions live in `fits` and
`efficiency`; `runs` and `reference` load the data; `tables`, `figures` and `dashboard` render."""
