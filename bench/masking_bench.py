"""Masker throughput (MiB/s) on three corpora, beside a plain copy and a naive `re.sub` in the same run.

Corpora (each ~4 MiB, fed in 64 KiB chunks as an SSH channel would deliver them):
  (a) log-like text with rare secrets (one per ~50 KiB),
  (b) dense base64 (`base64 -w 76` of random bytes),
  (c) `env` dumps with many secrets: env-real is a CI runner's environment (~45 variables, a real-size
      LS_COLORS, 10 secrets per dump, ~1 secret per 400 bytes); env-dense has a secret in one line of
      three and no long lines (~1 secret per 150 bytes, a worst case for per-hit cost).
Baselines: a plain copy (`bytes(...)` of each chunk) and the naive approach, `re.sub` of one big Python
alternation of the built-in detectors' shapes over the whole text. The `floor` column is the least any masker
built like this one (re2 finds trigger hits, Python confirms each) can cost: the scan and one dictionary lookup
per hit, with no detector run and nothing masked.

Run: python bench/masking_bench.py [--mib 4] [--chunk 65536] [--repeat 3] [--corpus env-real,env-dense]

The machine these figures come from is shared (2 cores): take the best of several runs (`--repeat`),
and compare two versions in the same run of the same machine, never against figures from another day.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bastion.masking.detectors import BUILTIN_IDS, TOKEN_DETECTORS, builtin_infos, fake  # noqa: E402
from bastion.masking.engine import compile_engine  # noqa: E402
from bastion.masking.profiles import MaskingProfile  # noqa: E402
from bastion.masking.stream import StreamMasker  # noqa: E402

MIB = 1 << 20


def secrets_pool() -> list[bytes]:
    return [t.encode() for info in builtin_infos() for t, _s in info.positives]


def log_like(size: int, rng: random.Random) -> bytes:
    words = ("GET POST /api/v1/users /healthz status=200 latency_ms=12 user_id=4821 request_id=9f2c1e0a "
             "worker-3 INFO DEBUG WARN connection closed from 10.0.3.17:51234 cache hit miss retry "
             "upstream timeout after 30s tls handshake ok bytes=1532 session started ended").split()
    pool = secrets_pool()
    out, n, next_secret = [], 0, 50_000
    while n < size:
        ts = f"2026-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        line = ts + " " + " ".join(rng.choice(words) for _ in range(rng.randint(6, 16)))
        if n >= next_secret:
            line += " " + rng.choice(pool).decode().replace("\n", " ")
            next_secret += 50_000
        out.append(line.encode())
        n += len(out[-1]) + 1
    return b"\n".join(out) + b"\n"


def dense_base64(size: int, rng: random.Random) -> bytes:
    raw = rng.randbytes(size * 3 // 4)
    b = base64.b64encode(raw)
    return b"\n".join(b[i : i + 76] for i in range(0, len(b), 76)) + b"\n"


def env_dump(size: int, rng: random.Random) -> bytes:
    plain = [b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", b"HOME=/home/app",
             b"LANG=C.UTF-8", b"SHELL=/bin/bash", b"TERM=xterm-256color", b"USER=app", b"HOSTNAME=web-7c9f",
             b"PWD=/srv/app", b"SHLVL=1", b"NODE_ENV=production", b"TZ=UTC", b"LOG_LEVEL=info",
             b"LS_COLORS=rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01"]
    secret_lines = [
        lambda: b"AWS_ACCESS_KEY_ID=AKIA" + fake("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, str(rng.random())).encode(),
        lambda: b"AWS_SECRET_ACCESS_KEY=" + fake("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40, str(rng.random())).encode(),
        lambda: b"GITHUB_TOKEN=ghp_" + fake("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 36, str(rng.random())).encode(),
        lambda: b"DATABASE_URL=postgres://app:" + fake("abcdefghijk0123456789", 20, str(rng.random())).encode() + b"@db:5432/app",
        lambda: b"DB_PASSWORD=" + fake("abcdefghijkXYZ0123456789!", 18, str(rng.random())).encode(),
        lambda: b"STRIPE_SECRET_KEY=sk_live_" + fake("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24, str(rng.random())).encode(),
        lambda: b"SECRET_KEY_BASE=" + fake("0123456789abcdef", 64, str(rng.random())).encode(),
    ]
    out, n = [], 0
    while n < size:
        line = rng.choice(secret_lines)() if rng.random() < 0.34 else rng.choice(plain)
        out.append(line)
        n += len(line) + 1
    return b"\n".join(out) + b"\n"


LS_COLORS = ("LS_COLORS=rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01:or=40;31;01:"
             "mi=00:su=37;41:sg=30;43:ca=00:tw=30;42:ow=34;42:st=37;44:ex=01;32:" + ":".join(
                 f"*.{ext}=01;{31 + i % 6}" for i, ext in enumerate(
                     "tar tgz arc arj taz lha lz4 lzh lzma tlz txz tzo t7z zip z dz gz lrz lz lzo xz zst tzst bz2 bz "
                     "tbz tbz2 tz deb rpm jar war ear sar rar alz ace zoo cpio 7z rz cab wim swm dwm esd avif jpg "
                     "jpeg mjpg mjpeg gif bmp pbm pgm ppm tga xbm xpm tif tiff png svg svgz mng pcx mov mpg mpeg "
                     "m2v mkv webm webp ogm mp4 m4v mp4v vob qt nuv wmv asf rm rmvb flc avi fli flv gl dl xcf xwd "
                     "yuv cgm emf ogv ogx aac au flac m4a mid midi mka mp3 mpc ogg ra wav oga opus spx xspf".split())))


def env_realistic(size: int, rng: random.Random) -> bytes:
    """Repeated `env` output of a CI runner: ~45 variables, a 1.7 KB LS_COLORS, 10 secrets per dump."""
    dense = env_dump(1 << 16, rng).split(b"\n")
    secrets = [x for x in dense if b"=" in x and not x.startswith((b"PATH", b"HOME", b"LANG", b"SHELL", b"TERM",
               b"USER", b"HOSTNAME", b"PWD", b"SHLVL", b"NODE_ENV", b"TZ", b"LOG_LEVEL", b"LS_COLORS"))]
    plain = [f"{k}={v}".encode() for k, v in [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("HOME", "/home/runner"),
        ("LANG", "C.UTF-8"), ("SHELL", "/bin/bash"), ("TERM", "xterm-256color"), ("USER", "runner"),
        ("HOSTNAME", "runner-7c9f"), ("PWD", "/home/runner/work/app"), ("SHLVL", "1"), ("CI", "true"),
        ("GITHUB_ACTIONS", "true"), ("GITHUB_REPOSITORY", "acme/app"), ("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8"),
        ("GITHUB_REF", "refs/heads/main"), ("GITHUB_RUN_ID", "8123456789"), ("RUNNER_OS", "Linux"),
        ("RUNNER_TEMP", "/home/runner/work/_temp"), ("JAVA_HOME", "/usr/lib/jvm/temurin-17-jdk-amd64"),
        ("GOROOT", "/usr/local/go"), ("NODE_ENV", "production"), ("TZ", "UTC"), ("LOG_LEVEL", "info"),
        ("XDG_RUNTIME_DIR", "/run/user/1001"), ("DEBIAN_FRONTEND", "noninteractive"), ("EDITOR", "vim"),
        ("PAGER", "less"), ("LESSOPEN", "| /usr/bin/lesspipe %s"), ("MAIL", "/var/mail/runner"),
        ("OLDPWD", "/home/runner"), ("PYTHONUNBUFFERED", "1"), ("PIP_NO_CACHE_DIR", "1"),
        ("DOCKER_HOST", "unix:///var/run/docker.sock"), ("KUBECONFIG", "/home/runner/.kube/config"),
        ("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_OUTPUT", "json")]] + [LS_COLORS.encode()]
    out, n = [], 0
    while n < size:
        dump = plain + rng.sample(secrets, 10)
        rng.shuffle(dump)
        block = b"\n".join(dump) + b"\n"
        out.append(block)
        n += len(block)
    return b"".join(out)


def naive_regex() -> re.Pattern[bytes]:
    parts = [re.sub(rb"\(\?P<\w+>", b"(?:", det.regex.pattern) for det in TOKEN_DETECTORS]  # one alternation: no named groups
    parts += [rb"(?i)(?:password|passwd|secret|token|api_?key|access_?key|private_?key)[\w.-]*\s*[:=]\s*\S+",
              rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", rb"://[^\s:/@]+:[^\s@/]+@", rb"(?i)bearer\s+\S{16,}",
              rb"\b(?:\d[ -]?){13,19}\b"]
    return re.compile(b"|".join(b"(?:" + p.replace(b"(?i)", b"") + b")" for p in parts), re.IGNORECASE)


def mibs(size: int, seconds: float) -> float:
    return size / MIB / seconds


def run_masker(data: bytes, chunk: int, profile: MaskingProfile) -> tuple[float, bytes]:
    m = StreamMasker(profile)
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(data), chunk):
        out.append(m.feed(data[i : i + chunk]))
    out.append(m.finish())
    return time.perf_counter() - t0, b"".join(out)


def best(fn, repeat: int = 3) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=float, default=4.0)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs of the masker per corpus")
    ap.add_argument("--corpus", default="", help="comma-separated subset of: log-like,base64,env-real,env-dense")
    args = ap.parse_args()
    only = {c for c in args.corpus.split(",") if c}
    rng = random.Random(7)
    size = int(args.mib * MIB)
    profile = MaskingProfile()
    naive = naive_regex()
    print(f"detectors on: {len(profile.detectors & set(BUILTIN_IDS))} built-in (of {len(BUILTIN_IDS)}); chunk {args.chunk} B; "
          f"corpus {args.mib:g} MiB each; best of {args.repeat}")
    engine = compile_engine(profile)
    print(f"{'corpus':<12}{'copy MiB/s':>12}{'naive re.sub':>14}{'floor':>8}{'masker':>10}{'vs naive':>10}"
          f"{'vs copy':>9}  hits")
    for name, gen in (("log-like", log_like), ("base64", dense_base64), ("env-real", env_realistic),
                      ("env-dense", env_dump)):
        data = gen(size, rng)  # generated even when skipped: the corpora stay the same whatever is run
        if only and name not in only:
            continue
        n = len(data)

        def copy() -> float:
            t0 = time.perf_counter()
            for i in range(0, n, args.chunk):
                bytes(bytearray(data[i : i + args.chunk]))
            return time.perf_counter() - t0

        naive_data = data[: min(n, MIB // 2)]  # the naive regex is slow: time half a MiB

        def naive_sub() -> float:
            t0 = time.perf_counter()
            naive.sub(b"[MASKED]", naive_data)
            return time.perf_counter() - t0

        def floor() -> float:
            t0 = time.perf_counter()
            for i in range(0, n, args.chunk):
                v = data[i : i + args.chunk]
                for _ts, _te, dets in engine.iter_hits(v, 0, len(v)):
                    dets[0]
            return time.perf_counter() - t0

        t_copy = best(copy)
        t_floor = best(floor, args.repeat)
        t_naive = best(naive_sub, 1)
        t_mask = best(lambda: run_masker(data, args.chunk, profile)[0], args.repeat)
        _t, out = run_masker(data, args.chunk, profile)
        copy_r, naive_r, mask_r = mibs(n, t_copy), mibs(len(naive_data), t_naive), mibs(n, t_mask)
        print(f"{name:<12}{copy_r:>12.0f}{naive_r:>14.1f}{mibs(n, t_floor):>8.0f}{mask_r:>10.1f}"
              f"{mask_r / naive_r:>9.0f}x{mask_r / copy_r:>9.3f}  {out.count(b'[MASKED:')}")


if __name__ == "__main__":
    main()
