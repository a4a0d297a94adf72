#!/usr/bin/env python3
"""Prints N refresh-session records as Redis protocol, for `redis-cli --pipe`: the same shape
as Tessera's RedisRefreshStore writes (SET <prefix>{f:<family>} <jti> EXAT <expiry>), so a
benchmark can hold a million live sessions without a million logins."""
import sys, time, uuid

count = int(sys.argv[1])
prefix = sys.argv[2] if len(sys.argv) > 2 else "tessera:"
expiry = str(int(time.time()) + 86400)
out = sys.stdout.buffer
def resp(*parts):
    encoded = [p.encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)
for _ in range(count):
    out.write(resp("SET", f"{prefix}{{f:{uuid.uuid4()}}}", uuid.uuid4().hex, "EXAT", expiry))
