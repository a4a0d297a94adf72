#!/usr/bin/env python3
"""Prints live refresh sessions as Redis protocol, for `redis-cli --pipe`, in the layout
Tessera's RedisRefreshStore writes, so a benchmark can hold a million sessions without a
million logins.

  seed-sessions.py N [PREFIX]                      N anonymous families:
      SET <prefix>{f:<family>} <jti> EXAT <expiry>
  seed-sessions.py --accounts A --per-account M [--first-account ID] [PREFIX]
      M sessions for each of A accounts (ids ID, ID+1, ...), each in its account's slot:
      SET <prefix>{u:<id>}:f:<family> <jti> EXAT <expiry>, and the account's index
      ZADD <prefix>{u:<id>}:s <expiry> <family>, HSET <prefix>{u:<id>}:m <family> <created>
"""
import argparse, sys, time, uuid

parser = argparse.ArgumentParser()
parser.add_argument("--accounts", type=int)
parser.add_argument("--per-account", type=int, default=100)
parser.add_argument("--first-account", type=int, default=1)
parser.add_argument("rest", nargs="*", help="N [PREFIX], or [PREFIX] with --accounts")
args = parser.parse_args()
if args.accounts is None:
    args.count, args.prefix = int(args.rest[0]), (args.rest[1:] or ["tessera:"])[0]
else:
    args.prefix = (args.rest or ["tessera:"])[0]

now = int(time.time())
expiry = str(now + 86400)
out = sys.stdout.buffer


def resp(*parts):
    encoded = [p.encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


if args.accounts is None:
    for _ in range(args.count):
        out.write(resp("SET", f"{args.prefix}{{f:{uuid.uuid4()}}}", uuid.uuid4().hex, "EXAT", expiry))
else:
    for account in range(args.first_account, args.first_account + args.accounts):
        slot = f"{args.prefix}{{u:{account}}}:"
        for _ in range(args.per_account):
            family = str(uuid.uuid4())
            out.write(resp("SET", f"{slot}f:{family}", uuid.uuid4().hex, "EXAT", expiry))
            out.write(resp("ZADD", f"{slot}s", expiry, family))
            out.write(resp("HSET", f"{slot}m", family, str(now)))
        out.write(resp("EXPIREAT", f"{slot}s", expiry))
        out.write(resp("EXPIREAT", f"{slot}m", expiry))
