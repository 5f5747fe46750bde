"""app/bench."""
