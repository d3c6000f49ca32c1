"""One task per model family on the one loop (harness/train/loop.py); `registry.py` picks it."""
