"""Typed settings from the environment (and `.env`), validated at start; failing closed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


class Settings(BaseSettings):
    """CHRONICLE_HOME, CHRONICLE_DATABASE_URL, CHRONICLE_POLICY and CHRONICLE_ENV, and the
    HTTP service's limits (docs/api.md, "Limits and hardening")."""

    model_config = SettingsConfigDict(
        env_prefix="CHRONICLE_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Path("./var")
    database_url: str | None = None
    policy: str = "default"
    env: Literal["development", "production"] = "development"
    # The largest request body the HTTP API and the web accept (JSON or form), in bytes:
    # refused with 413 before it is read (Content-Length), or as soon as a streamed body
    # passes it.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # The largest request head (request line and headers), in bytes: 431 (or the server's
    # own 400) above it.
    max_header_bytes: int = Field(default=16 * 1024, ge=4096, le=1024 * 1024)
    # Failed sign-ins (bearer tokens and the web's sign-in form) from one source address,
    # or with one token prefix, within the window, after which sign-ins are refused (429).
    sign_in_max_failures: int = Field(default=10, ge=1, le=10_000)
    sign_in_window_seconds: int = Field(default=300, ge=1, le=86_400)
    # A running server signs a checkpoint over new events at most this often (ms): a commit
    # is in a signed checkpoint within about this long (docs/performance.md).
    checkpoint_every_ms: int = Field(default=200, ge=10, le=60_000)
    # A signed-in token is trusted for this long without a query; a revocation made by
    # another process is seen within it (0: look every token up every time).
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # SQLite's `PRAGMA quick_check` at every start: a damaged database file is refused with
    # one line before anything reads or writes it. Off only to save its time on a very
    # large file (it reads every page; docs/operations.md, "Damaged database").
    sqlite_quick_check: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        if not url.startswith(("sqlite:///", "postgresql+psycopg2://")):
            raise ValueError(
                "use sqlite:////absolute/path.db or postgresql+psycopg2://user@host/db"
            )
        return url

    @property
    def keys_dir(self) -> Path:
        return self.home.resolve() / "keys"

    @property
    def sqlite_path(self) -> Path:
        return self.home.resolve() / "chronicle.db"

    @property
    def store_url(self) -> str:
        """The database URL in force: the setting, or SQLite inside CHRONICLE_HOME."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def production(self) -> bool:
        return self.env == "production"


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; errors name the CHRONICLE_ variable to fix."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = "; ".join(
            f"CHRONICLE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in e.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
