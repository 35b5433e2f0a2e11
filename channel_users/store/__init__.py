"""Storage: one interface (`base.Store`), two implementations. The only package that imports a driver."""

from __future__ import annotations

from .base import Credentials, Store, Stored, UserChange, open_store

__all__ = ["Credentials", "Store", "Stored", "UserChange", "open_store"]
