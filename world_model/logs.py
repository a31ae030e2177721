"""What a training writes to the console and to ``RUN/logs``: the metrics logger (CSV or
TensorBoard) and ``quiet_lightning``, which keeps Lightning's console to what a user can act on.

Lightning prints an advertisement for its cloud products on every ``Trainer`` (2.6 has no switch
for it short of using its ``LitLogger``), a "GPU available / TPU available" line pair, and a few
warnings that do not apply to tv2tv. ``quiet_lightning`` drops exactly those lines and warnings,
by message; every other log line and warning of Lightning still shows.

Example:
    >>> check_logger("csv")                  # "tensorboard": a ValueError if it is not installed
    'csv'
    >>> with quiet_lightning():              # doctest: +SKIP
    ...     trainer = L.Trainer(logger=make_logger("csv", run_dir))
    ...     trainer.fit(module, datamodule=dm)
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:                        # Lightning is imported where a logger is built (a fast --help)
    from lightning.pytorch.loggers import Logger

LOGGERS = ("csv", "tensorboard")
TENSORBOARD_HINT = ("the tensorboard logger needs the tensorboard package, which is not installed: "
                    "pip install tensorboard (or pip install -e '.[tensorboard]')")

# Lines Lightning logs through ``rank_zero_info`` that tell a tv2tv user nothing: the "💡 Tip:"
# adverts (``logger_connector.configure_logger``, ``callback_connector._maybe_show_litmodels_tip``)
# and the device lines of ``trainer.setup._log_device_info`` (its "GPU available but not used"
# warning stays). Lightning points ``rank_zero_info`` at one of these two loggers, whichever
# of its packages was imported last.
DROPPED_LINES = ("💡 Tip:", "GPU available:", "TPU available:")
_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")

# (message regex, category, module regex) of Lightning warnings that do not apply here.
IGNORED_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # Lightning's own pytree helper builds a ``LeafSpec``, which torch 2.13 deprecates; not our code.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning,
     r"lightning\.pytorch\.utilities\._pytree"),
    # Mixed precision keeps the weights in float32, so the summary's 32-bit size estimate is right.
    (r"Precision \S+-mixed is not supported by the model summary", UserWarning, ""),
    # A resume goes on in its own checkpoint directory; a new run into a non-empty one is refused
    # before Lightning starts (``train.check_run_dir``).
    (r"Checkpoint directory .+ exists and is not empty", UserWarning, ""),
    # Windows are encoded in the main process unless data.num_workers (--workers) asks for more.
    (r"The '\w+' does not have many workers", Warning, ""),
)


def _keep_line(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(DROPPED_LINES)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within it, Lightning's ``DROPPED_LINES`` and ``IGNORED_WARNINGS`` are not shown; all else is.

    Wrap both the ``Trainer``'s construction (the advert and device lines) and ``fit`` (the
    warnings). Loggers and warning filters are as they were afterwards.
    """
    loggers = [logging.getLogger(name) for name in _RANK_ZERO_LOGGERS]
    for log in loggers:
        log.addFilter(_keep_line)
    try:
        with warnings.catch_warnings():
            for message, category, module in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category, module=module)
            yield
    finally:
        for log in loggers:
            log.removeFilter(_keep_line)


def tensorboard_available() -> bool:
    """Whether Lightning's ``TensorBoardLogger`` can write (it takes tensorboard or tensorboardX)."""
    return any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))


def check_logger(name: str) -> str:
    """``name`` if it is one of ``LOGGERS`` and its package is installed, else ``ValueError``."""
    if name not in LOGGERS:
        raise ValueError(f"logger must be one of {', '.join(LOGGERS)}; got {name!r}")
    if name == "tensorboard" and not tensorboard_available():
        raise ValueError(TENSORBOARD_HINT)
    return name


def make_logger(name: str, run_dir: Path) -> Logger:
    """The metrics logger ``name`` writing to ``run_dir/logs/version_<i>/`` (``metrics.csv`` or
    TensorBoard event files); each invocation (a resume too) gets the next version."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if check_logger(name) == "tensorboard":
        # No "hp_metric" placeholder: tv2tv logs no metric of that name.
        return TensorBoardLogger(save_dir=str(run_dir), name="logs", default_hp_metric=False)
    return CSVLogger(save_dir=str(run_dir), name="logs")
