"""vidpred: video prediction and frame interpolation with correspondence-wise losses."""

__version__ = "0.1.0"
