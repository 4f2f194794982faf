"""lbp-outcomes: reproducible prediction of treatment response in chronic low back pain."""

__version__ = "0.1.0"
