"""YAML presets for training (tiny, small, base)."""
