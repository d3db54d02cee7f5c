"""Logging: secrets redacted from every record, stdlib routed in, correlation ids bound."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

from loguru import logger

from plexsync.config import load_config
from plexsync.logs import LOG_FILE, setup_logging
from plexsync.redact import redact


def test_redact_tokens_in_urls_and_headers() -> None:
    text = "GET http://p:32400/library?X-Plex-Token=abcDEF123&x=1 headers {'ApiKey': 'k-999'}"
    out = redact(text)
    assert "abcDEF123" not in out and "k-999" not in out
    assert "X-Plex-Token=***" in out


def test_every_sink_is_redacted(tmp_path: Path) -> None:
    cfg = load_config(
        environ={
            "PLEXSYNC_HOME": str(tmp_path),
            "PLEXSYNC_PLEX_TOKEN": "plextok-777",
            "PLEXSYNC_STASH_API_KEY": "stashkey-888",
        }
    )
    stream = io.StringIO()
    setup_logging(cfg.log_dir, verbose=1, stderr=stream)
    with logger.contextualize(cid="cid-42"):
        logger.info("token {} key {}", cfg.plex_token.reveal(), cfg.stash_api_key.reveal())
        logging.getLogger("urllib3").warning("retrying http://x/?X-Plex-Token=plextok-777")
        try:
            raise RuntimeError("failed with plextok-777")
        except RuntimeError:
            logger.exception("boom")
    logger.remove()
    logfile = (cfg.log_dir / LOG_FILE).read_text()
    for text in (stream.getvalue(), logfile):
        assert "plextok-777" not in text
        assert "stashkey-888" not in text
        assert "cid-42" in text
        assert "RuntimeError" in text  # the traceback is kept, only redacted
        assert "retrying http://x/?X-Plex-Token=***" in text
    assert stat.S_IMODE((cfg.log_dir / LOG_FILE).stat().st_mode) == 0o600
