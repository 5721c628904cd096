"""API tokens: only a SHA-256 hash of the token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, text
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    __table_args__ = (
        # One active token per name: a name is what people revoke, and what binds a token to a
        # person (people[].tokens). A revoked token's name may be used again.
        Index(
            "uq_api_token_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    #: The first characters of the token, shown in listings so people can tell tokens apart.
    prefix: str = Field(max_length=20)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
