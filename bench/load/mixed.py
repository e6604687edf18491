#!/usr/bin/env python3
"""Mixed load against a running `shihua serve`: N concurrent clients for D seconds, each in a
loop picking (by the given weights) a text search (GET /api/v1/search?q=…, poem lines that
repeat, as real traffic does), a thumbnail (GET /thumb/{id}?w=240|480 of an id from earlier
results) or a picture search (POST /api/v1/search/image, multipart `image`). Any answer other
than 200, a transport error or a timeout counts as an error. The server's resident memory
(VmRSS of --pid, and of its children: the embedded Milvus Lite) is sampled every second.

    python bench/load/mixed.py --url http://127.0.0.1:3917 --pid 1234 --clients 50 --seconds 60 \
        --image bench/tmp/query-1mp.jpg --image other.jpg

Prints one JSON line (`BENCH_JSON {...}`): per kind count, errors, p50/p99/max ms; overall
requests/s; RSS at start, end, min and max.

Fairness (issue 19): `--forwarded-for` gives every client its own address in
X-Forwarded-For (the server must run with `--trust-forwarded-for`, as behind a proxy);
`--abuser` adds one more client that posts pictures in a tight loop from its own address.
Answers `429 Too Many Requests` are counted as `refused`, apart from errors.
"""
import argparse
import asyncio
import json
import random
import time

import httpx

LINES = ["枯藤老树昏鸦", "小桥流水人家", "古道西风瘦马", "夕阳西下", "断肠人在天涯", "床前明月光",
         "大漠孤烟直", "长河落日圆", "春眠不觉晓", "白日依山尽", "千山鸟飞绝", "孤舟蓑笠翁",
         "独钓寒江雪", "野旷天低树", "江清月近人", "两个黄鹂鸣翠柳", "一行白鹭上青天",
         "明月松间照", "清泉石上流", "落霞与孤鹜齐飞", "秋水共长天一色", "停车坐爱枫林晚"]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--image", action="append", required=True)
    ap.add_argument("--mix", default="text=0.6,thumb=0.3,image=0.1")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--forwarded-for", action="store_true",
                    help="each client sends its own X-Forwarded-For address")
    ap.add_argument("--abuser", action="store_true",
                    help="one extra client posting pictures in a tight loop")
    args = ap.parse_args()
    mix = {k: float(v) for k, v in (kv.split("=") for kv in args.mix.split(","))}
    images = [open(p, "rb").read() for p in args.image]
    rng = random.Random(args.seed)

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=args.url, timeout=args.timeout, limits=limits) as c:
        ids = []
        for line in LINES[:6]:
            r = await c.get("/api/v1/search", params={"q": line, "k": 50})
            r.raise_for_status()
            ids.extend(h["id"] for h in r.json()["results"])
        ids = sorted(set(ids))
        if not ids:
            raise SystemExit("the collection returned no results: nothing to ask thumbnails for")

        lat = {k: [] for k in mix}
        errors = {k: 0 for k in mix}
        refused = {k: 0 for k in mix}
        abuse = {"ok": 0, "refused": 0, "errors": 0, "lat": []}
        error_samples = []
        rss = []
        kids = children(args.pid)
        rss_start = rss_kb(args.pid)
        kids_start = sum(rss_kb(k) for k in kids)
        deadline = time.monotonic() + args.seconds
        kinds, weights = list(mix), list(mix.values())

        def new_picture():
            # A unique JPEG comment after SOI: a new picture to the server's content-hashed
            # query cache (same pixels, so the same decode + encode work every time).
            base = rng.choice(images)
            tag = f"shihua-load-{rng.random()}".encode()
            return base[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + base[2:]

        async def one(kind, headers):
            if kind == "text":
                return await c.get("/api/v1/search", params={"q": rng.choice(LINES), "k": 24},
                                   headers=headers)
            if kind == "thumb":
                return await c.get(f"/thumb/{rng.choice(ids)}", params={"w": rng.choice([240, 480])},
                                   headers=headers)
            return await c.post("/api/v1/search/image", data={"k": "24"}, headers=headers,
                                files={"image": ("q.jpg", new_picture(), "image/jpeg")})

        def address(i):
            return {"x-forwarded-for": f"10.0.{i // 250}.{i % 250 + 1}"} if args.forwarded_for else {}

        async def client(i):
            headers = address(i)
            while time.monotonic() < deadline:
                kind = rng.choices(kinds, weights)[0]
                t = time.monotonic()
                status = None
                try:
                    r = await one(kind, headers)
                    status = r.status_code
                    ok = status == 200
                    if not ok and status != 429 and len(error_samples) < 5:
                        error_samples.append(f"{kind}: HTTP {r.status_code} {r.text[:200]}")
                except Exception as e:  # transport error or timeout
                    ok = False
                    if len(error_samples) < 5:
                        error_samples.append(f"{kind}: {type(e).__name__}: {e}")
                dt = (time.monotonic() - t) * 1000
                if ok:
                    lat[kind].append(dt)
                elif status == 429:
                    refused[kind] += 1
                else:
                    errors[kind] += 1

        async def abuser():
            headers = {"x-forwarded-for": "10.9.9.9"} if args.forwarded_for else {}
            while time.monotonic() < deadline:
                t = time.monotonic()
                try:
                    r = await c.post("/api/v1/search/image", data={"k": "24"}, headers=headers,
                                     files={"image": ("q.jpg", new_picture(), "image/jpeg")})
                    key = {200: "ok", 429: "refused"}.get(r.status_code, "errors")
                except Exception:
                    key = "errors"
                abuse[key] += 1
                abuse["lat"].append((time.monotonic() - t) * 1000)

        async def sampler():
            while time.monotonic() < deadline:
                rss.append(rss_kb(args.pid))
                await asyncio.sleep(1)

        t0 = time.monotonic()
        extra = [abuser()] if args.abuser else []
        await asyncio.gather(sampler(), *extra, *[client(i) for i in range(args.clients)])
        wall = time.monotonic() - t0
        rss_end = rss_kb(args.pid)
        kids_end = sum(rss_kb(k) for k in kids)

    out = {"clients": args.clients, "seconds": wall, "mix": mix,
           "requests": sum(len(v) for v in lat.values()) + sum(errors.values()),
           "errors": sum(errors.values()), "refused": sum(refused.values()),
           "error_samples": error_samples,
           "rss_start_mb": rss_start / 1024, "rss_end_mb": rss_end / 1024,
           "rss_min_mb": min(rss) / 1024 if rss else None,
           "rss_max_mb": max(rss) / 1024 if rss else None,
           "milvus_rss_start_mb": kids_start / 1024, "milvus_rss_end_mb": kids_end / 1024,
           "kinds": {}}
    out["qps"] = out["requests"] / wall
    for k in mix:
        out["kinds"][k] = {"ok": len(lat[k]), "errors": errors[k], "refused": refused[k],
                           "p50_ms": pct(lat[k], 50), "p99_ms": pct(lat[k], 99),
                           "max_ms": max(lat[k]) if lat[k] else None}
    if args.abuser:
        out["abuser"] = {"ok": abuse["ok"], "refused": abuse["refused"], "errors": abuse["errors"],
                         "p50_ms": pct(abuse["lat"], 50), "p99_ms": pct(abuse["lat"], 99)}
    print("BENCH_JSON " + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
