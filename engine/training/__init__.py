"""engine/training."""
