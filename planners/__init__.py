"""tv2tv.planners."""
