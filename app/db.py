"""The shared database: users and the records of the demo form, through SQLAlchemy Core.

Every node of the cluster points at the same database: an SQLite file (the embedded default,
fine for nodes on one machine) or MySQL/MariaDB through PyMySQL
(``mysql+pymysql://user:secret@host/jwdb``).  The schema is created on start (``CREATE TABLE
IF NOT EXISTS``; safe when several nodes start at once), and the default user ``admin`` /
``admin`` is created when the user table is empty.

The methods of `Database` are blocking; the web layer calls them through `Database.run`, which
runs them in a worker thread (``trio.to_thread.run_sync``) so the event loop never waits for
the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
import trio
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

T = TypeVar("T")

DEFAULT_USER: Final = "admin"
DEFAULT_PASSWORD: Final = "admin"
#: Lengths of the form fields (also the column sizes).
NAME_MAX: Final = 200
EMAIL_MAX: Final = 200
NOTES_MAX: Final = 4000
USERNAME_MAX: Final = 100

metadata = sa.MetaData()

users = sa.Table(
    "pyt_user",
    metadata,
    sa.Column("username", sa.String(USERNAME_MAX), primary_key=True),
    sa.Column("password_hash", sa.String(400), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False, default="admin"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime, nullable=False),
)

records = sa.Table(
    "pyt_record",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
    sa.Column("email", sa.String(EMAIL_MAX), nullable=False, default=""),
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(USERNAME_MAX), nullable=False, default=""),
    sa.Column("updated_by", sa.String(USERNAME_MAX), nullable=False, default=""),
    sa.Column("updated_on", sa.String(200), nullable=False, default=""),
)


# --- passwords ----------------------------------------------------------------------------------

#: scrypt parameters (n=2**14, r=8, p=1: 16 MiB, tens of milliseconds).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$<salt hex>$<hash hex>`` with a random 16-byte salt."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a `hash_password` result (constant-time compare)."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=64 << 20,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One row of the demo form."""

    id: int
    name: str
    email: str
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    updated_by: str
    #: The node (readable name) that wrote the last change.
    updated_on: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "notes": self.notes,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "updated_on": self.updated_on,
        }


@dataclass(frozen=True, slots=True)
class User:
    username: str
    roles: tuple[str, ...]


def _iso(t: dt.datetime) -> str:
    return t.replace(tzinfo=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> dt.datetime:
    """UTC, naive (portable across SQLite and MySQL DATETIME), whole seconds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _record(row: sa.Row[Any]) -> Record:
    m = row._mapping
    return Record(
        id=int(m["id"]),
        name=m["name"],
        email=m["email"],
        notes=m["notes"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        created_by=m["created_by"],
        updated_by=m["updated_by"],
        updated_on=m["updated_on"],
    )


# --- the database -------------------------------------------------------------------------------


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and cross-thread connections."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=False
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if u.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_recycle=3600)


class Database:
    """Users and records in one SQL database; see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread."""
        return await trio.to_thread.run_sync(lambda: fn(*args))

    def close(self) -> None:
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables when missing, and the default admin user when there is no user."""
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except sa.exc.DBAPIError:
            # another node created them between our check and our CREATE: fine if they exist
            metadata.create_all(self.engine, checkfirst=True)
        with self.engine.begin() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
        if count == 0:
            with contextlib.suppress(IntegrityError):  # another node created it first
                self.add_user(DEFAULT_USER, DEFAULT_PASSWORD, roles=("admin",))

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT 1")).scalar_one() == 1)

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, *, roles: tuple[str, ...] = ()) -> None:
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=hash_password(password),
                    roles=",".join(roles),
                    created_at=now,
                    password_changed_at=now,
                )
            )

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right, else None (unknown users cost the same)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(users.c.password_hash, users.c.roles).where(users.c.username == username)
            ).first()
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return None
        if not verify_password(password, row.password_hash):
            return None
        return User(username, tuple(r for r in row.roles.split(",") if r))

    def set_password(self, username: str, password: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                users.update()
                .where(users.c.username == username)
                .values(password_hash=hash_password(password), password_changed_at=_now())
            )
        return result.rowcount == 1

    # --- records --------------------------------------------------------------------------------

    def list_records(self, *, limit: int = 500) -> list[Record]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(records).order_by(records.c.id.desc()).limit(limit))
            return [_record(r) for r in rows]

    def count_records(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())

    def get_record(self, record_id: int) -> Record | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
        return None if row is None else _record(row)

    def create_record(
        self, *, name: str, email: str, notes: str, user: str, node: str = ""
    ) -> Record:
        now = _now()
        with self.engine.begin() as conn:
            result = conn.execute(
                records.insert().values(
                    name=name,
                    email=email,
                    notes=notes,
                    created_at=now,
                    updated_at=now,
                    created_by=user,
                    updated_by=user,
                    updated_on=node,
                )
            )
            (record_id,) = result.inserted_primary_key or (None,)
            row = conn.execute(sa.select(records).where(records.c.id == record_id)).one()
        return _record(row)

    def update_record(
        self, record_id: int, *, name: str, email: str, notes: str, user: str, node: str = ""
    ) -> Record | None:
        with self.engine.begin() as conn:
            result = conn.execute(
                records.update()
                .where(records.c.id == record_id)
                .values(
                    name=name,
                    email=email,
                    notes=notes,
                    updated_at=_now(),
                    updated_by=user,
                    updated_on=node,
                )
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(sa.select(records).where(records.c.id == record_id)).one()
        return _record(row)

    def delete_record(self, record_id: int) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(records.delete().where(records.c.id == record_id))
        return result.rowcount == 1


_DUMMY_HASH: Final = hash_password("not a password", salt=bytes(16))
