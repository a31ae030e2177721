"""tv2tv.world_model."""
