"""Model families as scikit-learn Pipelines (preprocessing + estimator) and their tuning."""
