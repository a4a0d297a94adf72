"""`tessera users import-django` against users a real Django made.

For each kind of source (a Django SQLite database, a Django PostgreSQL database, a
`manage.py dumpdata auth.user` file), tests/interop/django/make_users.py creates users with
known passwords under each Django hasher; the test imports them into the running server's
database, checks what was stored, re-imports (all unchanged), then logs every user in: the
supported hashers verify like Django and are replaced by argon2id on the first login.

Needs the environment tests/interop/run.sh exports: TESSERA_BIN, AUTH_URL, TESSERA_DATA_DIR,
PYTHON, INTEROP_TMP, PG_URL.
"""

import base64
import datetime
import json
import os
import re
import secrets
import sqlite3
import subprocess
import urllib.parse
from pathlib import Path

import httpx
import psycopg
import pytest

MAKE_USERS = Path(__file__).resolve().parent.parent / "django" / "make_users.py"
ARGON2ID_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
SUMMARY = re.compile(r"imported (\d+), unchanged (\d+), skipped (\d+)")
UTC = datetime.timezone.utc


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these checks through tests/interop/run.sh")
    return value


@pytest.fixture(scope="module")
def cfg():
    data_dir = env("TESSERA_DATA_DIR")
    db = Path(data_dir) / "tessera.db"
    if not db.exists():
        pytest.fail(f"{db} does not exist: is the server from tests/interop/run.sh running?")
    tmp = Path(env("INTEROP_TMP")) / f"django-import-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    return {
        "bin": env("TESSERA_BIN"),
        "auth_url": env("AUTH_URL").rstrip("/"),
        "data_dir": data_dir,
        "db": db,
        "python": env("PYTHON"),
        "tmp": tmp,
        "pg_url": env("PG_URL"),
        # Tessera keeps Django's ids, so each import here gets an id range no other user has.
        "id_base": max_tessera_id(db) + 100_000 + secrets.randbelow(1_000_000) * 10,
    }


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=60) as client:
        yield client


# --- helpers -------------------------------------------------------------------------------


def max_tessera_id(db):
    with tessera_db(db) as conn:
        return conn.execute("SELECT COALESCE(MAX(id), 0) FROM users").fetchone()[0]


def tessera_db(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def tessera_users(cfg, usernames):
    with tessera_db(cfg["db"]) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM users WHERE username IN ({','.join('?' * len(usernames))})",
            list(usernames),
        ).fetchall()
    return {row["username"]: dict(row) for row in rows}


def parse_time(value):
    """A timestamp as Django or Tessera stored it (aware, UTC), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, UTC)
    text = value.strip().replace("T", " ")
    text = re.sub(r"\s*(Z|UTC)$", "+00:00", text)
    # Python reads at most 6 fractional digits; some writers keep nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    parsed = datetime.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def same_second(a, b):
    a, b = parse_time(a), parse_time(b)
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1


def make_users(cfg, database, prefix, id_start, dumpdata=None):
    manifest = cfg["tmp"] / f"{prefix}manifest.json"
    cmd = [
        cfg["python"], str(MAKE_USERS), "--database", database, "--prefix", prefix,
        "--id-start", str(id_start), "--manifest", str(manifest),
    ]
    if dumpdata:
        cmd += ["--dumpdata", str(dumpdata)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"make_users.py failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(manifest.read_text(encoding="utf-8"))


def import_django(cfg, source):
    cmd = [cfg["bin"], "users", "import-django", str(source), "--data-dir", cfg["data_dir"]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if "unrecognized subcommand" in done.stderr:
        pytest.fail(f"{cfg['bin']} has no `users import-django`:\n{done.stderr}")
    match = SUMMARY.search(done.stdout) or SUMMARY.search(done.stderr)
    assert match, (
        f"no `imported N, unchanged M, skipped K` line from {' '.join(cmd)} "
        f"(exit {done.returncode}):\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    return done, tuple(int(n) for n in match.groups())


def django_rows(kind, source):
    """auth_user as the Django source holds it: username -> row (timestamps aware)."""
    columns = ["id", "username", "password", "email", "is_active", "is_staff", "is_superuser",
               "date_joined", "last_login"]
    if kind == "dumpdata":
        rows = [
            {"id": obj["pk"], **{c: obj["fields"][c] for c in columns[1:]}}
            for obj in json.loads(Path(source).read_text(encoding="utf-8"))
            if obj["model"] == "auth.user"
        ]
    elif kind == "sqlite":
        with sqlite3.connect(source.removeprefix("sqlite://")) as conn:
            rows = [dict(zip(columns, r)) for r in conn.execute(f"SELECT {','.join(columns)} FROM auth_user")]
    else:
        with psycopg.connect(source) as conn:
            rows = [dict(zip(columns, r)) for r in conn.execute(f"SELECT {','.join(columns)} FROM auth_user")]
    for row in rows:
        row["date_joined"] = parse_time(row["date_joined"])
        row["last_login"] = parse_time(row["last_login"])
        for flag in ("is_active", "is_staff", "is_superuser"):
            row[flag] = bool(row[flag])
    return {row["username"]: row for row in rows}


def login(http, cfg, username, password):
    return http.post(f"{cfg['auth_url']}/auth/token/", json={"username": username, "password": password})


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def pg_database(cfg):
    """A fresh PostgreSQL database for Django, dropped afterwards."""
    name = f"interop_django_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(cfg["pg_url"], autocommit=True)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL at {cfg['pg_url']} does not answer ({err}); start it with\n"
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urllib.parse.urlsplit(cfg["pg_url"])._replace(path=f"/{name}").geturl()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the checks ----------------------------------------------------------------------------


def check_stored(cfg, manifest, source_rows):
    """Right after the import: Tessera holds exactly what Django had."""
    stored = tessera_users(cfg, [u["username"] for u in manifest])
    assert sorted(stored) == sorted(u["username"] for u in manifest)
    for user in manifest:
        name = user["username"]
        django, tessera = source_rows[name], stored[name]
        # The source really holds what make_users.py reported.
        assert django["id"] == user["id"] and django["password"] == user["encoded"], name
        assert tessera["id"] == django["id"], f"{name}: id not kept"
        assert tessera["password_hash"] == django["password"], f"{name}: hash not kept verbatim"
        assert tessera["email"] == django["email"], name
        assert bool(tessera["is_active"]) == django["is_active"], name
        assert tessera["role"] == user["expected_role"], name
        assert same_second(tessera["date_joined"], django["date_joined"]), (
            f"{name}: date_joined {tessera['date_joined']!r}, Django had {django['date_joined']}"
        )
        assert same_second(tessera["last_login"], django["last_login"]), (
            f"{name}: last_login {tessera['last_login']!r}, Django had {django['last_login']}"
        )


def check_logins(http, cfg, manifest):
    for user in manifest:
        name, password = user["username"], user["password"]
        wrong = login(http, cfg, name, "wrong-" + password)
        assert wrong.status_code == 401, f"{name}: wrong password gave {wrong.status_code} {wrong.text}"
        assert tessera_users(cfg, [name])[name]["password_hash"] == user["encoded"]

        first = login(http, cfg, name, password)
        if not user["expect_login"]:
            assert first.status_code == 401, (
                f"{name} ({user['hasher']}, active={user['is_active']}) logged in: {first.text}"
            )
            assert tessera_users(cfg, [name])[name]["password_hash"] == user["encoded"], (
                f"{name}: a refused login changed the stored hash"
            )
            continue
        assert first.status_code == 200, f"{name} ({user['hasher']}): {first.status_code} {first.text}"
        token = claims(first.json()["access"])
        assert token["role"] == user["expected_role"], f"{name}: {token}"
        assert token["username"] == name, token
        assert str(token["user_id"]) == str(user["id"]), f"{name}: Django id not kept in the token"

        rehashed = tessera_users(cfg, [name])[name]["password_hash"]
        assert rehashed.startswith(ARGON2ID_PREFIX), f"{name}: not rehashed: {rehashed[:40]}"

        again = login(http, cfg, name, password)
        assert again.status_code == 200, f"{name} after rehash: {again.status_code} {again.text}"
        assert claims(again.json()["access"])["role"] == user["expected_role"]
        after = login(http, cfg, name, "wrong-" + password)
        assert after.status_code == 401, f"{name}: wrong password after rehash gave {after.status_code}"


def run_import_scenario(http, cfg, kind, source, manifest):
    n = len(manifest)
    names = [u["username"] for u in manifest]
    assert tessera_users(cfg, names) == {}, "users already present before the import"
    source_rows = django_rows(kind, source)

    done, counts = import_django(cfg, source)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert counts == (n, 0, 0), f"{done.stdout}\n{done.stderr}"
    check_stored(cfg, manifest, source_rows)

    done, counts = import_django(cfg, source)
    assert done.returncode == 0, f"re-import: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert counts == (0, n, 0), f"re-import:\n{done.stdout}\n{done.stderr}"
    check_stored(cfg, manifest, source_rows)

    check_logins(http, cfg, manifest)

    # A re-import after logins keeps the users as they now are (argon2id, not Django's hash).
    done, counts = import_django(cfg, source)
    assert done.returncode == 0 and counts == (0, n, 0), f"{done.stdout}\n{done.stderr}"
    stored = tessera_users(cfg, names)
    for user in manifest:
        if user["expect_login"]:
            assert stored[user["username"]]["password_hash"].startswith(ARGON2ID_PREFIX), (
                f"{user['username']}: re-import put Django's hash back"
            )
            assert login(http, cfg, user["username"], user["password"]).status_code == 200


def test_import_from_django_sqlite(http, cfg):
    prefix = f"dsq{secrets.token_hex(3)}_"
    path = cfg["tmp"] / f"{prefix}db.sqlite3"
    manifest = make_users(cfg, f"sqlite://{path}", prefix, cfg["id_base"])
    run_import_scenario(http, cfg, "sqlite", f"sqlite://{path}", manifest)


def test_import_from_django_postgres(http, cfg, pg_database):
    prefix = f"dpg{secrets.token_hex(3)}_"
    manifest = make_users(cfg, pg_database, prefix, cfg["id_base"] + 1_000)
    run_import_scenario(http, cfg, "postgres", pg_database, manifest)


def test_import_from_dumpdata(http, cfg):
    prefix = f"ddd{secrets.token_hex(3)}_"
    dump = cfg["tmp"] / f"{prefix}users.json"
    manifest = make_users(cfg, f"sqlite://{cfg['tmp'] / (prefix + 'db.sqlite3')}", prefix,
                          cfg["id_base"] + 2_000, dumpdata=dump)
    run_import_scenario(http, cfg, "dumpdata", str(dump), manifest)


def test_username_conflict_is_skipped_and_reported(http, cfg):
    prefix = f"dcf{secrets.token_hex(3)}_"
    taken = f"{prefix}plain"
    tessera_password = "Tess3ra-owns-this!"
    registered = http.post(f"{cfg['auth_url']}/auth/register/", json={
        "username": taken, "email": f"{prefix}tessera@example.com", "gst_no": "gst12345",
        "password": tessera_password, "password2": tessera_password,
    })
    assert registered.status_code == 201, registered.text
    before = tessera_users(cfg, [taken])[taken]

    path = cfg["tmp"] / f"{prefix}db.sqlite3"
    manifest = make_users(cfg, f"sqlite://{path}", prefix, cfg["id_base"] + 3_000)
    django_user = next(u for u in manifest if u["username"] == taken)
    assert django_user["id"] != before["id"]
    others = [u for u in manifest if u["username"] != taken]

    done, counts = import_django(cfg, f"sqlite://{path}")
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert taken in done.stderr, f"conflicting username not named on stderr:\n{done.stderr}"
    assert counts == (len(others), 0, 1), f"{done.stdout}\n{done.stderr}"

    stored = tessera_users(cfg, [u["username"] for u in manifest])
    assert stored[taken] == before, "the existing Tessera user was changed"
    for user in others:
        assert stored[user["username"]]["id"] == user["id"], user["username"]
        assert stored[user["username"]]["password_hash"] == user["encoded"], user["username"]
    assert login(http, cfg, taken, tessera_password).status_code == 200
    assert login(http, cfg, taken, django_user["password"]).status_code == 401
    admin = next(u for u in others if u["expected_role"] == "admin")
    assert login(http, cfg, admin["username"], admin["password"]).status_code == 200

    done, counts = import_django(cfg, f"sqlite://{path}")
    assert done.returncode == 1 and taken in done.stderr, f"{done.stdout}\n{done.stderr}"
    assert counts == (0, len(others), 1), f"{done.stdout}\n{done.stderr}"


def test_id_and_email_conflicts_are_skipped_and_reported(http, cfg):
    """A Django user whose id, or whose email (ignoring case), a Tessera account holds."""
    prefix = f"dce{secrets.token_hex(3)}_"
    holder = f"{prefix}holder"
    password = "Tess3ra-holds-these!"
    registered = http.post(f"{cfg['auth_url']}/auth/register/", json={
        # make_users.py gives the staff user `<prefix>staff@example.com`.
        "username": holder, "email": f"{prefix}STAFF@Example.com", "gst_no": "gst12345",
        "password": password, "password2": password,
    })
    assert registered.status_code == 201, registered.text
    before = tessera_users(cfg, [holder])[holder]

    # The first user (admin) gets the holder's id; the rest get ids above every existing one.
    path = cfg["tmp"] / f"{prefix}db.sqlite3"
    manifest = make_users(cfg, f"sqlite://{path}", prefix, before["id"])
    by_suffix = {u["username"].removeprefix(prefix): u for u in manifest}
    assert by_suffix["admin"]["id"] == before["id"]
    conflicting = {by_suffix["admin"]["username"], by_suffix["staff"]["username"]}
    others = [u for u in manifest if u["username"] not in conflicting]

    done, counts = import_django(cfg, f"sqlite://{path}")
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    for name in conflicting:
        assert name in done.stderr, f"{name} not named on stderr:\n{done.stderr}"
    assert counts == (len(others), 0, 2), f"{done.stdout}\n{done.stderr}"

    stored = tessera_users(cfg, [u["username"] for u in manifest] + [holder])
    assert stored[holder] == before, "the existing Tessera user was changed"
    assert not conflicting & set(stored), "a conflicting Django user was imported"
    for user in others:
        assert stored[user["username"]]["id"] == user["id"], user["username"]
    assert login(http, cfg, holder, password).status_code == 200
    plain = by_suffix["plain"]
    assert login(http, cfg, plain["username"], plain["password"]).status_code == 200
