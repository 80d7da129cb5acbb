"""Error classes that say whether trying again can help."""

from __future__ import annotations


class ClickstreamError(Exception):
    """Base of every error this project raises on purpose; its message is meant for people."""


class TransientError(ClickstreamError):
    """A retry may succeed (a service is down or busy)."""


class TerminalError(ClickstreamError):
    """A retry will fail the same way until someone changes the input or configuration."""


class WarehouseUnreachableError(TransientError):
    """PostgreSQL could not be reached."""


class BucketUnreachableError(TransientError):
    """The S3 endpoint or bucket could not be reached."""
