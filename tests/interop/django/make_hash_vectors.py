#!/usr/bin/env python3
"""Write Django password-hash test vectors (tests/fixtures/django_hashes.json) with a real Django.

    python tests/interop/django/make_hash_vectors.py [OUT]

Each entry: {"algorithm", "password", "encoded", "matches"[, "note"]}. "encoded" is what Django
stores in auth_user.password; "matches" is Django's own check_password(password, encoded), never
assumed. Entries with "matches": false pair a wrong password with a real hash. Salts are random,
so every run writes different (equally valid) vectors.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_users  # noqa: E402  (its Django settings: the same PASSWORD_HASHERS)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "django_hashes.json")

ASCII = "correct horse battery staple"
UNICODE = "pässwörd-ünïcode"
WRONG = "correct horse battery stapler"
LONG = "0123456789" * 10  # 100 bytes
LONG_OTHER_TAIL = LONG[:72] + "Z" * 28  # same first 72 bytes, different after
assert len(LONG.encode()) == 100 and len(LONG_OTHER_TAIL.encode()) == 100


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    from django.conf import settings

    settings.configure(
        SECRET_KEY="interop-only-not-secret",
        INSTALLED_APPS=[],
        USE_TZ=True,
        PASSWORD_HASHERS=make_users.HASHERS,
    )
    import django

    django.setup()
    from django.contrib.auth.hashers import (
        BCryptSHA256PasswordHasher,
        check_password,
        get_hasher,
        make_password,
    )

    vectors = []

    def add(algorithm, password, encoded, note=None):
        entry = {
            "algorithm": algorithm,
            "password": password,
            "encoded": encoded,
            "matches": check_password(password, encoded),
        }
        if note:
            entry["note"] = note
        vectors.append(entry)

    for algorithm in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "md5"]:
        encoded = make_password(ASCII, hasher=algorithm)
        add(algorithm, ASCII, encoded)
        add(algorithm, WRONG, encoded, "wrong password")
        add(algorithm, "", encoded, "empty password")
        encoded = make_password(UNICODE, hasher=algorithm)
        add(algorithm, UNICODE, encoded, "non-ASCII password, UTF-8 encoded")
        add(algorithm, UNICODE.upper(), encoded, "wrong password (case)")

    for algorithm in ["bcrypt_sha256", "bcrypt"]:
        encoded = make_password(LONG, hasher=algorithm)
        add(algorithm, LONG, encoded, "100-byte password")
        add(algorithm, LONG[:72], encoded, "its first 72 bytes only: bcrypt truncates, bcrypt_sha256 does not")
        add(algorithm, LONG_OTHER_TAIL, encoded, "same first 72 bytes, different tail")
        add(algorithm, "x" + LONG[:71] + LONG[72:], encoded, "differs within the first 72 bytes")

    # Formats older Django versions stored, which Django 5.2 still verifies.
    pbkdf2 = get_hasher("pbkdf2_sha256")
    encoded = pbkdf2.encode(ASCII, pbkdf2.salt(), iterations=260000)
    add("pbkdf2_sha256", ASCII, encoded, "Django 3.2's 260000 iterations")
    add("pbkdf2_sha256", WRONG, encoded, "wrong password, 260000 iterations")
    encoded = pbkdf2.encode(UNICODE, pbkdf2.salt(), iterations=1)
    add("pbkdf2_sha256", UNICODE, encoded, "1 iteration (cheap vector)")

    import argon2

    salt = get_hasher("argon2").salt()
    encoded = "argon2" + argon2.low_level.hash_secret(
        ASCII.encode(), salt.encode(), time_cost=2, memory_cost=512, parallelism=2,
        hash_len=16, type=argon2.low_level.Type.I,
    ).decode("ascii")
    add("argon2", ASCII, encoded, "argon2i, m=512,t=2,p=2, 16-byte hash: Django 1.10-3.1's format (argon2id since 3.2)")
    add("argon2", WRONG, encoded, "wrong password, argon2i")
    encoded = "argon2" + argon2.low_level.hash_secret(
        UNICODE.encode(), salt.encode(), time_cost=1, memory_cost=8, parallelism=1,
        hash_len=32, type=argon2.low_level.Type.ID,
    ).decode("ascii")
    add("argon2", UNICODE, encoded, "argon2id with minimal cost (cheap vector)")

    bcrypt_sha256 = BCryptSHA256PasswordHasher()
    bcrypt_sha256.rounds = 4
    encoded = bcrypt_sha256.encode(ASCII, bcrypt_sha256.salt())
    add("bcrypt_sha256", ASCII, encoded, "cost 4 (cheap vector)")

    encoded = make_password(None)
    add("unusable", ASCII, encoded, "set_unusable_password(): '!' + 40 random characters; never matches")

    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {out}")


if __name__ == "__main__":
    main()
