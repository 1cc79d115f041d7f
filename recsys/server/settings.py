"""Service settings, from RECSYS_* environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told. Each field is also the environment variable RECSYS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore")

    index: Path = Field(Path("indexes/demo"), description="The index directory to serve.")
    events_db: Path | None = Field(None, description="SQLite file of events (default: <index>.events.sqlite3).")
    api_token: SecretStr | None = Field(None, description="Bearer token that write routes require.")
    max_k: int = Field(100, ge=1, description="Largest k a request may ask for.")
    max_text_bytes: int = Field(100_000, ge=1, description="Largest draft text for POST /v1/related.")
    max_events: int = Field(1000, ge=1, description="Most events in one POST /v1/events.")
    max_body_bytes: int = Field(1_000_000, ge=1, description="Largest request body.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins the widget may call from.")
    widget_views: bool = Field(False, description="Accept token-free view reports from the widget, from the "
                                                  "service's own origin and the CORS origins only.")
    demo_page: bool = Field(False, description="Serve a page at / that lists the articles with their widgets.")

    def events_path(self) -> Path:
        return self.events_db or self.index.with_name(self.index.name + ".events.sqlite3")
