"""panbench: experiment-tracking benchmark harness for PanDA and panoptic image synthesis."""

__version__ = "0.1.0"
