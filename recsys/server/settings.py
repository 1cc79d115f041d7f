"""Service settings, from RECSYS_* environment variables (pydantic-settings)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..feedback import Variants
from ..feedback.store import DEFAULT_RETENTION_DAYS

MIN_TOKEN_LENGTH = 16
PUBLIC_FIELDS = ("id", "title", "url", "section", "tags", "author", "published_at", "score")

log = logging.getLogger("recsys.server")


class Settings(BaseSettings):
    """Everything the service can be told. Each field is also the environment variable RECSYS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore")

    index: Path = Field(Path("indexes/demo"), description="The index directory to serve.")
    index_root: Path | None = Field(None, description="Reload may serve only index directories under this one "
                                                      "(default: the directory that holds `index`).")
    events_db: Path | None = Field(None, description="SQLite file of events (default: <index>.events.sqlite3).")
    api_token: SecretStr | None = Field(None, description="Bearer token that write routes require "
                                                          f"(at least {MIN_TOKEN_LENGTH} characters).")
    admin_token: SecretStr | None = Field(None, description="Bearer token that reload and compaction require "
                                                            f"(at least {MIN_TOKEN_LENGTH} characters).")
    public_fields: list[str] = Field(list(PUBLIC_FIELDS), description="Article fields that read routes return "
                                     "(`body` and metadata fields may be added; a paywalled body never leaves).")
    max_k: int = Field(100, ge=1, le=10_000, description="Largest k (and offset) a request may ask for.")
    max_text_chars: int = Field(100_000, ge=1, description="Largest draft text (and title) for POST /v1/related.")
    max_events: int = Field(1000, ge=1, description="Most events in one POST /v1/events.")
    max_body_bytes: int = Field(1_000_000, ge=1, description="Largest request body.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins the widget may call from.")
    widget_views: bool = Field(False, description="Accept token-free view reports from the widget, from the "
                                                  "service's own origin and the CORS origins only.")
    widget_rate: int = Field(60, ge=1, description="Widget view reports one client may send per minute.")
    widget_clicks: bool = Field(False, description="Accept token-free impression and click reports from the widget, "
                                                   "from the service's own origin and the CORS origins only.")
    variants: dict[str, Any] | None = Field(None, description="A/B variants: JSON object of name -> overrides of the "
                                            "query-time parameters (and an optional share); one must be `control`.")
    events_retention_days: float = Field(DEFAULT_RETENTION_DAYS, gt=0, description="Days raw impressions and "
                                         "clicks are kept once rolled up (the hourly roll-ups are kept).")
    rollup_seconds: float = Field(60.0, gt=0, description="Seconds between two roll-ups of new impressions and "
                                  "clicks in each worker (GET /v1/stats rolls up first as well).")
    demo_page: bool = Field(False, description="Serve a page at / that lists the articles with their widgets.")

    @field_validator("api_token", "admin_token", mode="before")
    @classmethod
    def _short_token_is_no_token(cls, value, info):
        """An empty or short token counts as unset (its routes answer 403), with a warning."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None:
            return None
        if len(str(text).strip()) < MIN_TOKEN_LENGTH:
            log.warning("RECSYS_%s is shorter than %d characters: it counts as unset, and its routes are off",
                        info.field_name.upper(), MIN_TOKEN_LENGTH)
            return None
        return str(text).strip()

    @model_validator(mode="after")
    def _variants_are_valid(self) -> "Settings":
        """A bad variant definition stops the service at start-up, with an error naming the variant."""
        self.parsed_variants()
        return self

    def parsed_variants(self) -> Variants:
        return Variants.parse(self.variants)

    @model_validator(mode="after")
    def _warn_of_unknown_variables(self) -> "Settings":
        """A RECSYS_* variable that names no setting (a typo, or a renamed one) is ignored, with a warning."""
        known = {f"RECSYS_{name.upper()}" for name in type(self).model_fields}
        for name in sorted(set(os.environ) - known):
            if name.startswith("RECSYS_"):
                log.warning("%s is not a recsys setting and is ignored; the settings are %s", name, sorted(known))
        return self

    def events_path(self) -> Path:
        return self.events_db or self.index.with_name(self.index.name + ".events.sqlite3")

    def reload_root(self) -> Path:
        """The directory under which reload may open index directories."""
        return (self.index_root or self.index.resolve().parent).resolve()
