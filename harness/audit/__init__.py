"""Deletion audits: for one request's patients, a calibrated verdict per patient and a
tamper-evident record (``medlethe audit``; docs/audit.md)."""

from medlethe.audit.record import AuditError, content_hash, salted, verify, write
from medlethe.audit.run import STATISTICS, audit, read_request

__all__ = ["STATISTICS", "AuditError", "audit", "content_hash", "read_request", "salted",
           "verify", "write"]
