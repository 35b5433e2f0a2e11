"""The baseline: the same user PATCH / PUT / GET rules as a typical team would write them.

FastAPI + pydantic for the request, SQLAlchemy ORM on SQLite for storage, sync endpoints run in
FastAPI's thread pool, one process under uvicorn. It follows SPEC section 3 (profile merge, profileOnce,
tags, unsubscribe flags with their timestamps, version bump only on change, derived fields, E.164
numbers, every violation reported at once) so that it does the same work per request as channel-users.

    python bench/baseline_fastapi.py seed DB_PATH N IDS_OUT   # bulk-load N users, write their ids
    BASELINE_DB=DB_PATH uvicorn bench.baseline_fastapi:app    # serve it
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import time
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
STRING_KEYS = {"name", "email", "avatarUrl", "firstName", "lastName", "mobileNumber", "landlineNumber"}
MIRRORED = ("name", "email", "avatarUrl", "mobileNumber", "landlineNumber")
INT64 = (-(2**63), 2**63 - 1)


class Base(DeclarativeBase):
    pass


class Channel(Base):
    __tablename__ = "channels"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    access_key: Mapped[str] = mapped_column(String, unique=True)
    secret_hash: Mapped[str] = mapped_column(String)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String, index=True)
    member_id: Mapped[str | None] = mapped_column(String, index=True, nullable=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str | None] = mapped_column(String, nullable=True)
    email: Mapped[str | None] = mapped_column(String, nullable=True)
    avatar_url: Mapped[str | None] = mapped_column(String, nullable=True)
    mobile_number: Mapped[str | None] = mapped_column(String, nullable=True)
    landline_number: Mapped[str | None] = mapped_column(String, nullable=True)
    email_qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    mobile_number_qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    unsubscribe_email: Mapped[bool] = mapped_column(Boolean, default=False)
    unsubscribe_email_updated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unsubscribe_texting: Mapped[bool] = mapped_column(Boolean, default=False)
    unsubscribe_texting_updated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class UserPatch(BaseModel):
    """PATCH / PUT body; read-only fields of upstream's user.User are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    profile: dict[str, Any] | None = None
    profileOnce: dict[str, Any] | None = None
    tags: list[Any] | None = None
    unsubscribeEmail: bool | None = None
    unsubscribeTexting: bool | None = None
    blocked: bool | None = None
    language: str | None = None


READ_ONLY = {
    "id", "channelId", "memberId", "veilId", "unifiedId", "type", "name", "mobileNumberQualified",
    "emailQualified", "userImportTags", "blockedKey", "managedKey", "unsubscribeEmailUpdatedAt",
    "unsubscribeTextingUpdatedAt", "unsubscribeAppPushUpdatedAt", "hasChat", "hasPushToken", "country",
    "timeZone", "province", "provinceCode", "city", "latitude", "longitude", "web", "mobile",
    "sessionsCount", "lastSeenAt", "createdAt", "updatedAt", "version", "alert", "unread",
    "member", "email", "avatarUrl", "mobileNumber", "landlineNumber", "named", "systemLanguage",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return f"{int(time.time()):08x}{secrets.token_hex(6)}"


def bad_request(errors: list[dict[str, str]]) -> HTTPException:
    return HTTPException(status_code=400, detail=errors)


def check_profile(field: str, profile: dict[str, Any], errors: list[dict[str, str]]) -> None:
    for key, value in profile.items():
        path = f"{field}.{key}"
        if not KEY_RE.match(key):
            errors.append({"message": "invalid profile key", "field": path})
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            errors.append({"message": "profile values must be scalars", "field": path})
        elif isinstance(value, str):
            if len(value) > 1024:
                errors.append({"message": "string longer than 1024 characters", "field": path})
            if key in ("mobileNumber", "landlineNumber"):
                try:
                    phonenumbers.parse(value, None)
                except phonenumbers.NumberParseException:
                    errors.append({"message": "not an international phone number", "field": path})
        elif isinstance(value, bool):
            if key in STRING_KEYS or key in ("recentPurchaseCount", "recentPurchaseAmount"):
                errors.append({"message": "wrong type", "field": path})
            continue
        elif isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
            errors.append({"message": "integer out of range", "field": path})
        if key in STRING_KEYS and not isinstance(value, str):
            errors.append({"message": "must be a string", "field": path})
        if key == "recentPurchaseCount" and not isinstance(value, int):
            errors.append({"message": "must be an integer", "field": path})
        if key == "recentPurchaseAmount" and not isinstance(value, (int, float)):
            errors.append({"message": "must be a number", "field": path})


def normalise_tags(tags: list[Any], errors: list[dict[str, str]]) -> list[str]:
    out: list[str] = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            errors.append({"message": "tag must be a string", "field": f"tags[{i}]"})
            continue
        t = tag.strip().lower()
        if not t:
            errors.append({"message": "empty tag", "field": f"tags[{i}]"})
        elif len(t) > 50:
            errors.append({"message": "tag longer than 50 characters", "field": f"tags[{i}]"})
        elif t not in out:
            out.append(t)
    if len(out) > 20:
        errors.append({"message": "more than 20 tags", "field": "tags"})
    return out


def e164(number: str) -> tuple[str, bool]:
    parsed = phonenumbers.parse(number, None)
    kind = phonenumbers.number_type(parsed)
    qualified = phonenumbers.is_valid_number(parsed) and kind in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), qualified


def apply_patch(user: User, body: UserPatch) -> None:
    """Validate the whole body, then apply it to `user`; raises 400 with every violation."""
    errors: list[dict[str, str]] = []
    for key in body.model_extra or {}:
        if key not in READ_ONLY:
            errors.append({"message": "unknown field", "field": key})
    fields = body.model_fields_set
    if body.profile:
        check_profile("profile", body.profile, errors)
    if body.profileOnce:
        check_profile("profileOnce", body.profileOnce, errors)
    tags = normalise_tags(body.tags or [], errors) if "tags" in fields else None
    profile = dict(user.profile or {})
    if "profile" in fields:
        if body.profile is None:
            profile = {}
        else:
            for k, v in body.profile.items():
                if v is None:
                    profile.pop(k, None)
                else:
                    profile[k] = v
    for k, v in (body.profileOnce or {}).items():
        if k not in profile and v is not None:
            profile[k] = v
    if len(profile) > 500:
        errors.append({"message": "more than 500 profile keys", "field": "profile"})
    if errors:
        raise bad_request(errors)

    ts = now_ms()
    changed = False
    for key in ("mobileNumber", "landlineNumber"):
        if isinstance(profile.get(key), str):
            profile[key], qualified = e164(profile[key])
            if key == "mobileNumber":
                user.mobile_number_qualified = qualified
    if profile != user.profile:
        user.profile = profile
        changed = True
    if tags is not None and tags != user.tags:
        user.tags = tags
        changed = True
    if body.unsubscribeEmail is not None and body.unsubscribeEmail != user.unsubscribe_email:
        user.unsubscribe_email, user.unsubscribe_email_updated_at = body.unsubscribeEmail, ts
        changed = True
    if body.unsubscribeTexting is not None and body.unsubscribeTexting != user.unsubscribe_texting:
        user.unsubscribe_texting, user.unsubscribe_texting_updated_at = body.unsubscribeTexting, ts
        changed = True
    if body.blocked is not None and body.blocked != user.blocked:
        user.blocked, changed = body.blocked, True
    if body.language is not None and body.language != user.language:
        user.language, changed = body.language, True
    user.name = profile.get("name")
    user.email = profile.get("email")
    user.avatar_url = profile.get("avatarUrl")
    user.mobile_number = profile.get("mobileNumber")
    user.landline_number = profile.get("landlineNumber")
    if user.email:
        try:
            validate_email(user.email, check_deliverability=False)
            user.email_qualified = True
        except EmailNotValidError:
            user.email_qualified = False
    if changed:
        user.version += 1
        user.updated_at = ts


def user_view(user: User) -> dict[str, Any]:
    out = {
        "id": user.id, "channelId": user.channel_id, "memberId": user.member_id,
        "type": "member" if user.member_id else "lead", "name": user.name, "email": user.email,
        "avatarUrl": user.avatar_url, "mobileNumber": user.mobile_number,
        "landlineNumber": user.landline_number, "profile": user.profile, "tags": user.tags,
        "member": user.member_id is not None, "named": user.name is not None,
        "emailQualified": user.email_qualified, "mobileNumberQualified": user.mobile_number_qualified,
        "unsubscribeEmail": user.unsubscribe_email,
        "unsubscribeEmailUpdatedAt": user.unsubscribe_email_updated_at,
        "unsubscribeTexting": user.unsubscribe_texting,
        "unsubscribeTextingUpdatedAt": user.unsubscribe_texting_updated_at,
        "blocked": user.blocked, "language": user.language, "version": user.version,
        "createdAt": user.created_at, "updatedAt": user.updated_at,
    }
    return {"user": {k: v for k, v in out.items() if v is not None}}


def make_engine(path: str) -> Any:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={os.environ.get('BASELINE_SYNCHRONOUS', 'FULL')}")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    return engine


engine = make_engine(os.environ.get("BASELINE_DB", "baseline.db"))
SessionLocal = sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


def get_db() -> Any:
    with SessionLocal() as db:
        yield db


def channel_id(
    x_access_key: str | None = Header(default=None),
    x_access_secret: str | None = Header(default=None),
    db: Session = Depends(get_db),
) -> str:
    if not x_access_key or not x_access_secret:
        raise HTTPException(status_code=401, detail="unauthorized")
    channel = db.scalar(select(Channel).where(Channel.access_key == x_access_key))
    digest = hashlib.sha256(x_access_secret.encode()).hexdigest()
    if channel is None or not hmac.compare_digest(channel.secret_hash, digest):
        raise HTTPException(status_code=401, detail="unauthorized")
    return channel.id


@app.exception_handler(HTTPException)
def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    errors = exc.detail if isinstance(exc.detail, list) else [{"message": str(exc.detail)}]
    return JSONResponse({"type": "error", "status": exc.status_code, "errors": errors}, exc.status_code)


@app.get("/open/v5/users/{user_id}")
def get_user(user_id: str, cid: str = Depends(channel_id), db: Session = Depends(get_db)) -> Any:
    user = db.get(User, user_id)
    if user is None or user.channel_id != cid:
        raise HTTPException(status_code=404, detail="not found")
    return user_view(user)


@app.patch("/open/v5/users/{user_id}")
def patch_user(
    user_id: str, body: UserPatch, cid: str = Depends(channel_id), db: Session = Depends(get_db)
) -> Any:
    user = db.get(User, user_id)
    if user is None or user.channel_id != cid:
        raise HTTPException(status_code=404, detail="not found")
    apply_patch(user, body)
    db.commit()
    return user_view(user)


@app.put("/open/v5/users/@{member_id}")
def upsert_user(
    member_id: str, body: UserPatch, cid: str = Depends(channel_id), db: Session = Depends(get_db)
) -> Any:
    user = db.scalar(select(User).where(User.channel_id == cid, User.member_id == member_id))
    if user is None:
        ts = now_ms()
        user = User(id=new_id(), channel_id=cid, member_id=member_id, profile={}, tags=[],
                    version=1, created_at=ts, updated_at=ts, email_qualified=False,
                    mobile_number_qualified=False, unsubscribe_email=False,
                    unsubscribe_texting=False, blocked=False)
        db.add(user)
    apply_patch(user, body)
    db.commit()
    return user_view(user)


def seed(path: str, n: int, ids_out: str) -> dict[str, str]:
    """Bulk-load `n` members `bench-0..n-1` into a fresh database; returns the key pair."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    eng = make_engine(path)
    Base.metadata.create_all(eng)
    key, secret = secrets.token_hex(12), secrets.token_hex(24)
    ts = now_ms()
    with eng.begin() as conn:
        conn.execute(Channel.__table__.insert(), [
            {"id": "1", "access_key": key, "secret_hash": hashlib.sha256(secret.encode()).hexdigest()}])
        with open(ids_out, "w") as ids:
            for start in range(0, n, 20_000):
                rows = []
                for i in range(start, min(n, start + 20_000)):
                    uid = f"{ts // 1000:08x}{secrets.token_hex(6)}"
                    ids.write(uid + "\n")
                    rows.append({
                        "id": uid, "channel_id": "1", "member_id": f"bench-{i}",
                        "profile": {"name": f"User {i}", "email": f"user{i}@example.com"},
                        "tags": ["seed"], "name": f"User {i}", "email": f"user{i}@example.com",
                        "email_qualified": True, "mobile_number_qualified": False,
                        "unsubscribe_email": False, "unsubscribe_texting": False, "blocked": False,
                        "version": 1, "created_at": ts, "updated_at": ts,
                    })
                conn.execute(User.__table__.insert(), rows)
    eng.dispose()
    return {"channelId": "1", "accessKey": key, "accessSecret": secret}


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "seed":
    print(json.dumps(seed(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
