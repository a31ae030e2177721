"""tv2tv.recorders."""
