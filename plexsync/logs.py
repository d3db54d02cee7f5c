"""Logging: loguru to stderr and a rotating file, stdlib logging routed in, secrets redacted.

Every record passes the patcher, which redacts the message and any exception text, so no
sink ever sees the Plex token or the Stash API key (plexapi puts ``X-Plex-Token`` in URLs).
A correlation id is bound per event with ``logger.contextualize(cid=...)``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from plexsync.redact import redact

if TYPE_CHECKING:
    from loguru import Record

LOG_FILE = "plexsync.log"
_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {extra[cid]} | {message}{extra[exc]}"
# Huey logs every task execution at INFO: shown with -v; its consumer's start/stop always.
_STDLIB_LEVELS = {
    "huey": logging.WARNING,
    "huey.consumer": logging.INFO,
    "urllib3": logging.WARNING,
    "plexapi": logging.INFO,
}


_thread = threading.local()


def bind_thread_cid(cid: str | None) -> None:
    """Correlation id for records of this thread that carry none (e.g. Huey's own lines
    about the task the thread is running); None unbinds."""
    _thread.cid = cid


def _patch(record: Record) -> None:
    record["message"] = redact(record["message"])
    if record["extra"].get("cid", "-") == "-":
        record["extra"]["cid"] = getattr(_thread, "cid", None) or "-"
    exc = record["exception"]
    if exc is not None and exc.type is not None:
        text = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
        record["extra"]["exc"] = "\n" + redact(text).rstrip()
        record["exception"] = None
    else:
        record["extra"].setdefault("exc", "")


class InterceptHandler(logging.Handler):
    """Send stdlib logging records (huey, urllib3, plexapi) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        depth = 2
        frame = sys._getframe(2) if hasattr(sys, "_getframe") else None
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def setup_logging(
    log_dir: Path | None,
    verbose: int = 0,
    stderr_level: str | None = None,
    stderr: Any = None,
) -> None:
    """Configure loguru once per process. log_dir None disables the file sink."""
    logger.remove()
    logger.configure(patcher=_patch, extra={"cid": "-", "exc": ""})
    level = stderr_level or ("DEBUG" if verbose > 1 else "INFO" if verbose else "WARNING")
    logger.add(stderr or sys.stderr, level=level, format=_FORMAT, colorize=False)
    if log_dir is not None:
        try:
            log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            logger.add(
                log_dir / LOG_FILE,
                level="DEBUG" if verbose > 1 else "INFO",
                format=_FORMAT,
                rotation="10 MB",
                retention=5,
                encoding="utf-8",
                enqueue=False,
                opener=_private_opener,
            )
        except OSError as exc:
            logger.warning("file logging disabled: cannot write {}: {}", log_dir, exc.strerror)
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name, lvl in _STDLIB_LEVELS.items():
        if verbose > 1:
            lvl = logging.DEBUG
        elif verbose and name == "huey":
            lvl = logging.INFO
        logging.getLogger(name).setLevel(lvl)
