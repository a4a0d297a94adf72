#!/usr/bin/env python3
"""Make Django users with known passwords, for `tessera users import-django` to import.

A real Django (see requirements.txt) migrates django.contrib.auth into the given database
and creates one user per case below, each hashed by a chosen Django hasher. Prints (or writes
with --manifest) a JSON manifest the interop test checks Tessera against:

    python make_users.py --database sqlite:///tmp/x/db.sqlite3 --prefix a1_ \\
        [--id-start 5000] [--dumpdata users.json] [--manifest manifest.json]

--database: sqlite:///abs/path (also sqlite:/abs/path or a plain path) or
            postgres://user[:password]@host[:port]/dbname (the database must exist).
--prefix:   prepended to every username (and email), so several imports share one Tessera DB.
--id-start: primary key of the first user (Tessera keeps Django's ids, so imports sharing a
            Tessera database need id ranges of their own); consecutive after it.
--dumpdata: also write `manage.py dumpdata auth.user` JSON to this file.
"""

import argparse
import datetime
import json
import os
import sys
import urllib.parse

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]

# Hashers Tessera verifies at login (the contract); md5 and unusable passwords it refuses.
SUPPORTED = {"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt"}

LONG_PASSWORD = "Long-passw0rd-" + "x" * 86  # 100 bytes: bcrypt alone reads only 72 of them
assert len(LONG_PASSWORD.encode()) == 100

# suffix, hasher, password, flags. hasher "legacy-*" builds a hash older Django versions made
# (still verified by Django 5.2), "unusable" calls set_unusable_password().
CASES = [
    ("admin", "pbkdf2_sha256", "Adm1n-Pa55word!", {"is_superuser": True, "is_staff": True, "last_login": True}),
    ("staff", "argon2", "St4ff-Pa55word!", {"is_staff": True, "last_login": True}),
    ("plain", "bcrypt_sha256", "Pl41n-Pa55word!", {}),
    ("sha1", "pbkdf2_sha1", "Sh41-Pa55word!", {}),
    ("bcrypt", "bcrypt", "Bcrypt-Pa55word!", {}),
    ("bcryptlong", "bcrypt", LONG_PASSWORD, {}),
    ("bcrypt256long", "bcrypt_sha256", LONG_PASSWORD, {}),
    ("unicodé", "pbkdf2_sha256", "pässwörd-ünïcode", {}),
    ("argon2uni", "argon2", "пароль-密码-ünï", {}),
    ("oldpbkdf2", "legacy-pbkdf2_sha256-260000", "Old-Pbkdf2-Pa55!", {}),
    ("oldargon2i", "legacy-argon2i", "Old-Argon2i-Pa55!", {}),
    ("seen", "pbkdf2_sha256", "Seen-Pa55word!", {"last_login": True}),
    ("inactive", "pbkdf2_sha256", "In4ctive-Pa55word!", {"is_active": False}),
    ("unusable", "unusable", "Unus4ble-Pa55word!", {"email": ""}),
    ("md5", "md5", "Md5-Pa55word!", {}),
]

DATE_JOINED_BASE = datetime.datetime(2019, 3, 4, 5, 6, 7, 891234, tzinfo=datetime.timezone.utc)
LAST_LOGIN_BASE = datetime.datetime(2024, 7, 8, 9, 10, 11, 123456, tzinfo=datetime.timezone.utc)


def database_settings(url):
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]  # sqlite:///abs -> /abs ; sqlite://rel -> rel
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.abspath(path)}
    if url.startswith(("postgres://", "postgresql://")):
        parts = urllib.parse.urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": urllib.parse.unquote(parts.path.lstrip("/")),
            "USER": urllib.parse.unquote(parts.username or ""),
            "PASSWORD": urllib.parse.unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if "://" not in url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.abspath(url)}
    raise SystemExit(f"unsupported --database {url!r}: use sqlite:///abs/path or postgres://...")


def setup_django(database_url):
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="interop-only-not-secret",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={"default": database_settings(database_url)},
        USE_TZ=True,
        TIME_ZONE="UTC",
        PASSWORD_HASHERS=HASHERS,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def encode(hasher, password):
    from django.contrib.auth.hashers import get_hasher, make_password

    if hasher == "legacy-pbkdf2_sha256-260000":
        # Django 3.2's iteration count: hashes made then are still in real databases.
        h = get_hasher("pbkdf2_sha256")
        return h.encode(password, h.salt(), iterations=260000)
    if hasher == "legacy-argon2i":
        # Django 1.10-3.1 made argon2i hashes (m=512,t=2,p=2, 16-byte hash); Django 5.2 still verifies them.
        import argon2

        salt = get_hasher("argon2").salt()
        data = argon2.low_level.hash_secret(
            password.encode(), salt.encode(), time_cost=2, memory_cost=512, parallelism=2,
            hash_len=16, type=argon2.low_level.Type.I,
        )
        return "argon2" + data.decode("ascii")
    return make_password(password, hasher=hasher)


def iso(dt):
    return None if dt is None else dt.astimezone(datetime.timezone.utc).isoformat()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--id-start", type=int, default=None)
    parser.add_argument("--dumpdata", metavar="FILE")
    parser.add_argument("--manifest", metavar="FILE")
    args = parser.parse_args()

    setup_django(args.database)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import check_password, is_password_usable
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()

    manifest = []
    for i, (suffix, hasher, password, flags) in enumerate(CASES):
        username = f"{args.prefix}{suffix}"
        user = User(
            username=username,
            email=flags.get("email", f"{args.prefix}{suffix}@example.com"),
            first_name=suffix.capitalize(),
            is_superuser=flags.get("is_superuser", False),
            is_staff=flags.get("is_staff", False),
            is_active=flags.get("is_active", True),
            date_joined=DATE_JOINED_BASE + datetime.timedelta(days=i, seconds=i),
            last_login=LAST_LOGIN_BASE + datetime.timedelta(hours=i) if flags.get("last_login") else None,
        )
        if args.id_start is not None:
            user.pk = args.id_start + i
        if hasher == "unusable":
            user.set_unusable_password()
        else:
            user.password = encode(hasher, password)
        user.save(force_insert=True)
        user = User.objects.get(pk=user.pk)  # what the database holds
        usable = is_password_usable(user.password)
        if usable:
            assert check_password(password, user.password), f"Django rejects its own hash for {username}"
            assert not check_password("wrong-" + password, user.password)
        algorithm = user.password.split("$", 1)[0] if usable else None  # Django's algorithm name
        manifest.append({
            "id": user.pk,
            "username": username,
            "email": user.email,
            "password": password,
            "hasher": algorithm,
            "case": hasher,
            "encoded": user.password,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "expected_role": "admin" if user.is_superuser else "staff" if user.is_staff else "customer",
            "expect_login": bool(user.is_active and usable and algorithm in SUPPORTED),
            "date_joined": iso(user.date_joined),
            "last_login": iso(user.last_login),
        })

    if args.dumpdata:
        call_command("dumpdata", "auth.user", indent=2, output=args.dumpdata, verbosity=0)

    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    sys.exit(main())
