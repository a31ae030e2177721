"""tv2tv.recorders: the episode store, the recording wrapper and loop, validation and videos.

Example:
    >>> from tv2tv.recorders import EpisodeStore, record, validate, write_video
    >>> summary = record("ALE/Pong-v5", "data/pong", episodes=2, policy="pong")  # doctest: +SKIP
    >>> validate(EpisodeStore.open("data/pong"))                                  # doctest: +SKIP
    []
"""

# ``record`` and ``validate`` are both modules and functions: importing the functions here binds
# the package attributes to the functions (after the submodules have loaded).
from tv2tv.recorders.record import RecordConfig, RecordSummary, record
from tv2tv.recorders.store import DatasetMeta, EpisodeError, EpisodeStore, StoreError, describe_space
from tv2tv.recorders.validate import Problem, validate
from tv2tv.recorders.video import side_by_side, write_video
from tv2tv.recorders.wrapper import RecordEpisodes

__all__ = [
    "DatasetMeta", "EpisodeError", "EpisodeStore", "Problem", "RecordConfig", "RecordEpisodes",
    "RecordSummary", "StoreError", "describe_space", "record", "side_by_side", "validate", "write_video",
]
