#!/usr/bin/env python3
"""`make bench-scale` (part of `make bench`): which vector index for 10k to 1M photos, measured
against a real Milvus standalone 2.3.5 (the same server code as a Milvus cluster's nodes).

    .venv/bin/python bench/scale.py [--rows 10000,100000,1000000] [--budget-min 60] ...

For each collection size N:
1. fill a collection `scale_<N>` with shihua's schema (and description, so `shihua serve`
   opens it): the real vectors of the photos in ../shared/datasets/photos, made by `shihua
   index` with the fixture model into the same server, plus N - 401 synthetic unit vectors,
   through pymilvus column inserts of 10,000 rows (the fastest path measured here; the rate
   is reported). Synthetic rows are clustered like a photo collection (events, albums):
   cluster centres uniform on the sphere, N/64 of them, each row = normalise(centre + noise)
   with cos(row, centre) ~ 0.71. Uniform random vectors would be the worst case for any ANN
   index and unlike real CLIP embeddings.
2. for each index (FLAT; IVF_FLAT nlist 512; IVF_FLAT nlist = shihua's recommended_nlist(N),
   a power of two near 4*sqrt(N); IVF_SQ8 at that nlist; HNSW M 16, efConstruction 200):
   build time (create_index until every row is indexed), load time, Milvus RSS after load,
   recall@10 against exact search (numpy, float64 dot products of unit vectors) for 50 text
   queries (the fixture text tower on poem lines) and 100 photo-like queries (held-out rows
   from the same clusters) at several nprobe / ef, the Milvus search latency of one query
   (pymilvus, sequential), and the p50 / p99 of `shihua serve` text queries over HTTP
   (`/api/v1/search?q=...&k=10`, a new text each time, text cache off) at concurrency 1 and 8.

Each size writes its tables as soon as they are done to bench/results/<date>-scale-<commit>.md
(and .json), with the CPU, its flags and the load average before and after. A time budget per
size skips what no longer fits and says so. The fixture model's text tower takes ~1 ms, so
serve latencies here are Milvus + HTTP; add the real model's text time (bench/results, ~20-50
ms for ViT-B-16 on a CPU) for the user's wait.
"""
import argparse
import datetime
import glob
import http.client
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings

import numpy as np

from common import commit, loadavg, rss_mb  # bench/common.py

warnings.filterwarnings("ignore")
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema,  # noqa: E402
                      connections, utility)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = os.path.join(ROOT, "bench", "tmp")
RESULTS = os.path.join(ROOT, "bench", "results")
DIM = 512
POEMS = [
    "枯藤老树昏鸦", "小桥流水人家", "古道西风瘦马", "夕阳西下", "断肠人在天涯",
    "床前明月光", "疑是地上霜", "举头望明月", "低头思故乡", "大漠孤烟直",
    "长河落日圆", "春眠不觉晓", "处处闻啼鸟", "白日依山尽", "黄河入海流",
    "欲穷千里目", "更上一层楼", "千山鸟飞绝", "万径人踪灭", "孤舟蓑笠翁",
    "独钓寒江雪", "野旷天低树", "江清月近人", "两个黄鹂鸣翠柳", "一行白鹭上青天",
]


def log(msg):
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu():
    model, flags = "?", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = [x for x in ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f",
                                     "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                     "avx_vnni", "amx_tile"] if x in have]
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // (1024 * 1024)
    return model, flags, os.cpu_count(), mem


def recommended_nlist(rows):
    """server/src/store/sizing.rs: 4*sqrt(rows) to the nearest power of two, 512..65536."""
    ideal = 4.0 * math.sqrt(rows)
    if ideal <= 512:
        return 512
    return int(min(max(2 ** round(math.log2(ideal)), 512), 65536))


def retry(what, fn, tries=6):
    """Milvus standalone on a busy 2-core machine sometimes times out inside (its embedded
    etcd, the segment allocator): try again with a growing pause, and say so."""
    for i in range(tries):
        try:
            return fn()
        except Exception as e:  # pymilvus raises MilvusException and grpc errors
            if i == tries - 1:
                raise
            log(f"{what} failed ({e}); retrying in {2 ** i} s")
            time.sleep(2 ** i)


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Standalone:
    """scripts/milvus-standalone.sh on its own data folder and port."""

    def __init__(self, data, port):
        self.env = dict(os.environ, MILVUS_STANDALONE_DATA=data, MILVUS_STANDALONE_PORT=str(port))
        self.data, self.port = data, port
        self.uri = f"http://127.0.0.1:{port}"

    def sh(self, *args):
        subprocess.run([os.path.join(ROOT, "scripts", "milvus-standalone.sh"), *args],
                       cwd=ROOT, env=self.env, check=True)

    def start(self, fresh):
        self.sh("start", *(["--fresh"] if fresh else []))

    def stop(self):
        self.sh("stop")

    def pid(self):
        with open(os.path.join(self.data, "milvus.pid")) as f:
            return int(f.read().strip())

    def version(self):
        return utility.get_server_version()


class Report:
    def __init__(self, argv, tag):
        self.commit = commit()
        day = datetime.date.today().isoformat()
        os.makedirs(RESULTS, exist_ok=True)
        base = os.path.join(RESULTS, f"{day}-scale-{self.commit}{tag}")
        self.md, self.js = base + ".md", base + ".json"
        self.data = {"argv": argv, "commit": self.commit, "sizes": []}
        if os.path.exists(self.js):
            with open(self.js) as f:
                self.data = json.load(f)

    def emit(self, text):
        print(text, flush=True)
        with open(self.md, "a") as f:
            f.write(text + "\n")

    def save(self):
        with open(self.js, "w") as f:
            json.dump(self.data, f, indent=1)

    @staticmethod
    def table(headers, rows):
        out = "| " + " | ".join(headers) + " |\n|" + "---|" * len(headers) + "\n"
        for r in rows:
            out += "| " + " | ".join("–" if x is None else str(x) for x in r) + " |\n"
        return out


def f1(x, nd=1):
    return None if x is None else f"{x:.{nd}f}"


# ----------------------------------------------------------------------------- vectors

def shihua_env(args, collection):
    env = dict(os.environ, MILVUS_URI=args.uri, SHIHUA_COLLECTION=collection,
               SHIHUA_MODEL=args.model, RUST_LOG="warn", SHIHUA_TEXT_CACHE="0")
    return env


def real_vectors(args):
    """The photos' vectors as `shihua index` makes them, read back from the server."""
    coll = "scale_real"
    cache = os.path.join(TMP, f"scale-real-{args.model}.npz")
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        return z["v"], list(z["p"]), text_vectors(args), json.loads(str(z["meta"]))
    cmd = [args.shihua, "index", args.photos, "--recreate"]
    log("$ " + shlex.join(cmd))
    t = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=shihua_env(args, coll), capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"shihua index failed:\n{out.stdout}\n{out.stderr}")
    index_s = time.time() - t
    c = Collection(coll)
    c.load()
    rows = c.query("id > 0", output_fields=["vectors", "filepath"], limit=16384)
    v = np.array([r["vectors"] for r in rows], dtype=np.float32)
    p = [r["filepath"] for r in rows]
    meta = {"photos": len(p), "index_s": index_s, "index_stdout": out.stdout[-600:],
            "binary": os.path.relpath(args.shihua, ROOT), "load": loadavg(),
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    np.savez(cache, v=v, p=np.array(p), meta=json.dumps(meta))
    utility.drop_collection(coll)
    return v, p, text_vectors(args), meta


def text_vectors(args):
    """`shihua embed --text` of poem lines (a suffix makes lines past the 25th distinct)."""
    texts = []
    for i in range(args.text_queries):
        line = POEMS[i % len(POEMS)] + ("" if i < len(POEMS) else f"，其{i // len(POEMS)}")
        o = subprocess.run([args.shihua, "embed", "--text", line], cwd=ROOT,
                           env=shihua_env(args, "unused"), capture_output=True, text=True,
                           check=True)
        texts.append(json.loads(o.stdout))
    return np.array(texts, dtype=np.float32)


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n, seed, noise=1.0, per_cluster=64):
    """n clustered unit vectors and a function making more from the same clusters."""
    rng = np.random.default_rng(seed)
    k = max(1, n // per_cluster)
    centres = unit(rng.standard_normal((k, DIM)))

    def draw(m, rng):
        which = rng.integers(0, k, m)
        noise_v = rng.standard_normal((m, DIM)).astype(np.float32) * (noise / math.sqrt(DIM))
        return unit(centres[which] + noise_v)

    out = np.empty((n, DIM), dtype=np.float32)
    for i in range(0, n, 100_000):
        out[i:i + 100_000] = draw(min(100_000, n - i), rng)
    return out, (lambda m: draw(m, np.random.default_rng(seed + 1)))


def exact_top(vectors, queries, k=10):
    """Exact top-k ids (row numbers) by cosine (dot of unit vectors), in float64."""
    best_s = np.full((len(queries), 0), -np.inf)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    q = queries.astype(np.float64)
    for i in range(0, len(vectors), 200_000):
        s = q @ vectors[i:i + 200_000].astype(np.float64).T
        top = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        best_i = np.concatenate([best_i, top + i], 1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


# ----------------------------------------------------------------------------- collection

def fill(args, n, real_v, real_p):
    """Creates scale_<n> with shihua's schema; returns (collection, row vectors in id order,
    the id of each row, a maker of photo-like queries, fill figures)."""
    name = f"scale_{n}"
    if args.reuse_collection and utility.has_collection(name):
        return reuse(name, n, real_v)
    if utility.has_collection(name):
        retry("drop_collection", lambda: utility.drop_collection(name))
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True, auto_id=True, description="ids"),
        FieldSchema("vectors", DataType.FLOAT_VECTOR, dim=DIM, description="embedding vectors"),
        FieldSchema("filepath", DataType.VARCHAR, max_length=512, description="file path"),
    ], description=f"shihua model={args.model} dim={DIM}", enable_dynamic_field=True)
    c = retry("create_collection", lambda: Collection(name, schema, shards_num=2))
    real_n = min(len(real_v), n)
    syn, more = synthetic(n - real_n, seed=n)
    vectors = np.concatenate([real_v[:real_n], syn]) if n > real_n else real_v[:n].copy()
    paths = [real_p[i % len(real_p)] for i in range(n)]
    ids = []
    t = time.time()
    for i in range(0, n, 10_000):
        r = retry("insert", lambda: c.insert([vectors[i:i + 10_000], paths[i:i + 10_000]]))
        ids.extend(r.primary_keys)
    insert_s = time.time() - t
    t = time.time()
    retry("flush", c.flush)
    flush_s = time.time() - t
    stored = c.num_entities
    if stored != n or len(ids) != n:
        log(f"WARNING: {stored} rows stored and {len(ids)} ids for {n} inserted (a retried insert?)")
    return c, vectors, np.array(ids), more, {"insert_s": insert_s, "flush_s": flush_s,
                                             "rows_per_s": n / (insert_s + flush_s),
                                             "stored": stored}


def reuse(name, n, real_v):
    """`--reuse-collection`: the collection a killed run filled (same seed, so the same
    vectors), its ids read back in id order (auto ids grow in insert order)."""
    c = Collection(name)
    retry("load", c.load)  # reads need a loaded collection (unindexed segments load raw)
    real_n = min(len(real_v), n)
    syn, more = synthetic(n - real_n, seed=n)
    vectors = np.concatenate([real_v[:real_n], syn]) if n > real_n else real_v[:n].copy()
    ids = []
    it = c.query_iterator(batch_size=16384, expr="id > 0", output_fields=["id"])
    while True:
        batch = it.next()
        if not batch:
            break
        ids.extend(r["id"] for r in batch)
    it.close()
    ids = np.sort(np.array(ids))
    if len(ids) != n:
        raise SystemExit(f"{name} has {len(ids)} rows, not {n}: fill it again without "
                         f"--reuse-collection")
    rows = [0, len(real_v), n // 2, n - 1]
    got = {r["id"]: r["vectors"] for r in c.query(f"id in {[int(ids[i]) for i in rows]}",
                                                  output_fields=["vectors"])}
    for i in rows:
        if not np.allclose(np.array(got[int(ids[i])], dtype=np.float32), vectors[i], atol=1e-6):
            raise SystemExit(f"{name}: row {i} is not the vector the seed makes")
    log(f"reusing {name}: {len(ids):,} rows, vectors regenerated from the seed (rows {rows} "
        f"checked against the stored ones)")
    return c, vectors, ids, more, {"insert_s": 0.0, "flush_s": 0.0, "rows_per_s": 0.0,
                                   "stored": len(ids), "reused": True}


def wait_index(c, timeout):
    t = time.time()
    while True:
        p = retry("index_building_progress", lambda: utility.index_building_progress(c.name))
        if p.get("total_rows", 0) > 0 and p.get("indexed_rows", 0) >= p.get("total_rows", 0) \
                and p.get("pending_index_rows", 0) == 0:
            return time.time() - t
        if time.time() - t > timeout:
            raise TimeoutError(f"index not finished after {timeout} s: {p}")
        time.sleep(0.5)


def same_index(c, index):
    """Whether `c` already has (or is building) `index` with the same parameters."""
    if not c.has_index():
        return False
    p = c.index().params
    params = p.get("params", {})
    if isinstance(params, str):
        params = json.loads(params)
    return p.get("index_type") == index["type"] and \
        {k: int(v) for k, v in params.items()} == {k: int(v) for k, v in index["build"].items()}


def build(c, index, timeout, since=None):
    """Drops any index, builds `index`, loads; returns (build s, load s). With `since` (an
    epoch time) and the same index already being built (a killed run started it), waits for
    that build instead and counts its time from `since`."""
    try:
        c.release()
    except Exception:
        pass
    if since is not None and same_index(c, index):
        log(f"{index['name']} is already being built (since {time.ctime(since)}): waiting")
        t = since
    else:
        if c.has_index():
            retry("drop_index", c.drop_index)
        t = time.time()
        retry("create_index", lambda: c.create_index(
            "vectors", {"index_type": index["type"], "metric_type": "COSINE",
                        "params": index["build"]}, index_name="vectors"))
    wait_index(c, timeout)
    build_s = time.time() - t
    t = time.time()
    retry("load", c.load)
    return build_s, time.time() - t


def search_params(index):
    if index["type"] == "HNSW":
        return [("ef", e) for e in (64, 128, 256)]
    if index["type"] == "FLAT":
        return [(None, None)]
    return [("nprobe", p) for p in (8, 16, 32, 64, 128)]


def recall_and_latency(c, queries, truth, ids, key, value, lat_queries):
    params = {"metric_type": "COSINE", "params": {} if key is None else {key: value}}
    got = []
    for i in range(0, len(queries), 50):
        res = retry("search", lambda: c.search(queries[i:i + 50].tolist(), "vectors", params,
                                               limit=10))
        got.extend([[h.id for h in hits] for hits in res])
    want = ids[truth]
    recall = np.array([len(set(g) & set(w.tolist())) / 10 for g, w in zip(got, want)])
    lat = []
    for q in lat_queries:
        t = time.perf_counter()
        c.search([q.tolist()], "vectors", params, limit=10)
        lat.append((time.perf_counter() - t) * 1000)
    return recall, lat


# ----------------------------------------------------------------------------- serve

class Serve:
    def __init__(self, args, collection, index, key, value, port):
        cli_index = {"FLAT": None, "IVF_FLAT": "ivf-flat", "IVF_SQ8": "ivf-sq8",
                     "HNSW": "hnsw"}[index["type"]]
        extra = []
        if cli_index:
            extra += ["--index", cli_index]
        if "nlist" in index["build"]:
            extra += ["--nlist", str(index["build"]["nlist"])]
        if key == "nprobe":
            extra += ["--nprobe", str(value)]
        if key == "ef":
            extra += ["--ef", str(value)]
        self.port = port
        self.cmd = [args.shihua, *extra, "--data-dir", os.path.join(TMP, "scale-data"), "serve",
                    "--addr", f"127.0.0.1:{port}"]
        self.env = shihua_env(args, collection)
        self.logf = open(os.path.join(TMP, f"scale-serve-{port}.log"), "w")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        t = time.time()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shihua serve exited: see {self.logf.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() - t > 120:
                raise RuntimeError("shihua serve not healthy in 120 s")
            time.sleep(0.3)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def http_load(port, conc, seconds):
    """Closed loop: `conc` clients, each a new poem text per request, for `seconds`."""
    lat, errors = [], [0]
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def client(tid):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = 0
        while time.time() < stop_at:
            q = f"{POEMS[(tid * 7 + i) % len(POEMS)]} {tid}-{i}"
            i += 1
            path = "/api/v1/search?k=10&q=" + urllib.parse.quote(q)
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            dt = (time.perf_counter() - t) * 1000
            with lock:
                if ok:
                    lat.append(dt)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
    t = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.time() - t
    return {"p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat), "qps": len(lat) / wall,
            "errors": errors[0]}


# ----------------------------------------------------------------------------- main

def indexes_for(n):
    best = recommended_nlist(n)
    out = [{"name": "FLAT", "type": "FLAT", "build": {}},
           {"name": "IVF_FLAT nlist 512", "type": "IVF_FLAT", "build": {"nlist": 512}}]
    if best != 512:
        out.append({"name": f"IVF_FLAT nlist {best}", "type": "IVF_FLAT",
                    "build": {"nlist": best}})
    out.append({"name": f"IVF_SQ8 nlist {best}", "type": "IVF_SQ8", "build": {"nlist": best}})
    out.append({"name": "HNSW M 16 efC 200", "type": "HNSW",
                "build": {"M": 16, "efConstruction": 200}})
    if n >= 500_000:  # exact search is slow there and needs no build: last, if time is left
        out = out[1:] + out[:1]
    return out


def index_named(name):
    """An index from its table name: FLAT, IVF_FLAT nlist N, IVF_SQ8 nlist N,
    HNSW M m efC e."""
    w = name.split()
    if w == ["FLAT"]:
        return {"name": name, "type": "FLAT", "build": {}}
    if len(w) == 3 and w[0] in ("IVF_FLAT", "IVF_SQ8") and w[1] == "nlist":
        return {"name": name, "type": w[0], "build": {"nlist": int(w[2])}}
    if len(w) == 5 and w[0] == "HNSW" and w[1] == "M" and w[3] == "efC":
        return {"name": name, "type": "HNSW", "build": {"M": int(w[2]),
                                                        "efConstruction": int(w[4])}}
    raise SystemExit(f"--indexes: unknown index {name!r} (FLAT, IVF_FLAT nlist N, "
                     f"IVF_SQ8 nlist N, HNSW M m efC e)")


def serve_settings(index):
    if index["type"] == "HNSW":
        return [("ef", 64), ("ef", 256)]
    if index["type"] == "FLAT":
        return [(None, None)]
    return [("nprobe", 32)]


def run_size(args, rep, ms, n, real_v, real_p, text_q):
    deadline = time.time() + args.budget_min * 60
    model, flags, cores, mem = cpu()
    rep.emit(f"\n## {n:,} rows\n\n- when: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"
             f"\n- machine: {model}, {cores} cores, {mem} GiB; CPU flags: {' '.join(flags)}"
             f"\n- load average (1/5/15 min) at start: {loadavg()}"
             f"\n- Milvus {ms.version()} standalone ({ms.uri}, data {os.path.relpath(ms.data, ROOT)});"
             f" shihua {os.path.relpath(args.shihua, ROOT)}, model {args.model}"
             f"\n- budget: {args.budget_min} min for this size\n")
    size = {"rows": n, "start_load": loadavg(), "indexes": [], "skipped": []}
    rep.data["sizes"].append(size)
    base_rss = rss_mb(ms.pid())
    c, vectors, ids, more, fillr = fill(args, n, real_v, real_p)
    size["fill"] = fillr
    photo_q = more(args.photo_queries)
    queries = np.concatenate([text_q, photo_q])
    t = time.time()
    truth = exact_top(vectors, queries)
    exact_s = time.time() - t
    nt = len(text_q)
    if fillr.get("reused"):
        rep.emit(f"Reused the {n:,}-row collection a killed run filled (vectors regenerated "
                 f"from the same seed, ids read back). Exact top-10 of {len(queries)} queries "
                 f"by numpy: {exact_s:.1f} s.\n")
    else:
        rep.emit(f"Fill: {n:,} rows ({min(len(real_v), n)} real photo vectors + synthetic) by "
                 f"pymilvus column inserts of 10,000 rows: insert {fillr['insert_s']:.1f} s + flush "
                 f"{fillr['flush_s']:.1f} s = {fillr['rows_per_s']:,.0f} rows/s. Exact top-10 of "
                 f"{len(queries)} queries ({nt} text, {len(photo_q)} photo-like) by numpy: "
                 f"{exact_s:.1f} s. Milvus RSS before: {f1(base_rss, 0)} MB.\n")
    rep.save()
    lat_q = queries[: args.latency_queries]
    rows, serve_rows = [], []
    port = args.serve_port
    chosen = ([index_named(x.strip()) for x in args.indexes.split(",")] if args.indexes
              else indexes_for(n))
    for pos, index in enumerate(chosen):
        if time.time() > deadline:
            size["skipped"].append(index["name"])
            rep.emit(f"- skipped {index['name']}: the {args.budget_min}-minute budget is spent")
            continue
        log(f"{n}: building {index['name']}")
        try:
            c.release()
        except Exception:
            pass
        time.sleep(2)
        released_rss = rss_mb(ms.pid())
        try:
            build_s, load_s = build(c, index, timeout=max(60, deadline - time.time()),
                                    since=args.resume_build_since if pos == 0 else None)
        except TimeoutError as e:
            size["skipped"].append(index["name"])
            rep.emit(f"- {index['name']}: build not finished within the budget ({e})")
            continue
        time.sleep(2)
        loaded_rss = rss_mb(ms.pid())
        entry = {"index": index, "build_s": build_s, "load_s": load_s,
                 "rss_released_mb": released_rss, "rss_loaded_mb": loaded_rss, "search": [],
                 "serve": []}
        for key, value in search_params(index):
            per_query, lat = recall_and_latency(c, queries, truth, ids, key, value, lat_q)
            rec = float(per_query.mean())
            rec_t, rec_p = float(per_query[:nt].mean()), float(per_query[nt:].mean())
            entry["search"].append({"param": key, "value": value, "recall": rec,
                                    "recall_text": rec_t, "recall_photo": rec_p,
                                    "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)})
            rows.append([index["name"], f1(build_s), f1(load_s),
                         f1(loaded_rss - released_rss if loaded_rss and released_rss else None, 0),
                         "" if key is None else f"{key} {value}", f"{rec:.3f}", f"{rec_t:.3f}",
                         f"{rec_p:.3f}", f1(pct(lat, 50)), f1(pct(lat, 99))])
        if not args.no_serve:
            for key, value in serve_settings(index):
                if time.time() > deadline:
                    break
                port += 1
                srv = Serve(args, c.name, index, key, value, port)
                try:
                    http_load(port, 1, 2)  # warm-up
                    for conc in (1, 8):
                        r = http_load(port, conc, args.seconds)
                        entry["serve"].append({"param": key, "value": value, "concurrency": conc,
                                               **r})
                        serve_rows.append([index["name"], "" if key is None else f"{key} {value}",
                                           conc, f1(r["p50"]), f1(r["p99"]), f1(r["qps"]),
                                           r["n"], r["errors"]])
                finally:
                    srv.stop()
        size["indexes"].append(entry)
        rep.save()
    rep.emit(Report.table(["index", "build s", "load s", "Milvus RSS +MB", "search",
                           "recall@10 all", "text", "photo-like", "Milvus p50 ms",
                           "Milvus p99 ms"], rows))
    if serve_rows:
        rep.emit(f"`shihua serve` text queries over HTTP (new text each request, text cache "
                 f"off, {args.seconds} s per run, closed loop):\n")
        rep.emit(Report.table(["index", "search", "concurrency", "p50 ms", "p99 ms", "QPS",
                               "requests", "errors"], serve_rows))
    size["end_load"] = loadavg()
    rep.emit(f"load average at end: {size['end_load']}; Milvus RSS now "
             f"{f1(rss_mb(ms.pid()), 0)} MB\n")
    rep.save()
    if not args.keep:
        try:
            c.release()
            utility.drop_collection(c.name)
        except Exception as e:  # a loaded machine's etcd can time out; the next run drops it
            log(f"could not drop {c.name}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="10000,100000")
    ap.add_argument("--port", type=int, default=19540, help="Milvus standalone port")
    ap.add_argument("--data", default=os.path.join(TMP, "milvus"))
    ap.add_argument("--shihua", default=None,
                    help="shihua binary (default target/release/shihua, else target/debug)")
    ap.add_argument("--model", default="fixture")
    ap.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "datasets", "photos"))
    ap.add_argument("--text-queries", type=int, default=50)
    ap.add_argument("--photo-queries", type=int, default=100)
    ap.add_argument("--latency-queries", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=10, help="per serve latency run")
    ap.add_argument("--serve-port", type=int, default=3950)
    ap.add_argument("--budget-min", type=float, default=60, help="per collection size")
    ap.add_argument("--no-serve", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the collections")
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--reuse-server", action="store_true",
                    help="use a running server (do not start --fresh nor stop it)")
    ap.add_argument("--indexes", default="",
                    help="comma-separated indexes, in this order (default: the standard set)")
    ap.add_argument("--reuse-collection", action="store_true",
                    help="use the scale_<N> collection a killed run filled (with --reuse-server)")
    ap.add_argument("--resume-build-since", type=float, default=None,
                    help="epoch seconds: the first index is already being built since then")
    args = ap.parse_args()
    if args.shihua is None:
        rel = os.path.join(ROOT, "target", "release", "shihua")
        args.shihua = rel if os.path.exists(rel) else os.path.join(ROOT, "target", "debug",
                                                                     "shihua")
    if not os.path.exists(args.shihua):
        raise SystemExit(f"{args.shihua} is missing: cargo build --release -p server")
    os.makedirs(TMP, exist_ok=True)
    args.uri = f"http://127.0.0.1:{args.port}"
    ms = Standalone(os.path.abspath(args.data), args.port)
    if not args.reuse_server:
        ms.start(fresh=True)
    rep = Report([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:], args.tag)
    try:
        connections.connect(uri=ms.uri)
        real_v, real_p, text_q, meta = real_vectors(args)
        rep.emit(f"\n# Index choice at scale ({datetime.date.today().isoformat()}, commit "
                 f"{rep.commit})\n\n- command: `{shlex.join(rep.data['argv'])}`\n- real "
                 f"vectors: {meta['photos']} photos indexed by `shihua index` ({args.model} "
                 f"model, {meta.get('binary', '?')}) into a Milvus standalone in "
                 f"{meta['index_s']:.1f} s at {meta.get('when', '?')} (load {meta.get('load', '?')}; "
                 f"cached in bench/tmp since)\n")
        for n in [int(x) for x in args.rows.split(",")]:
            run_size(args, rep, ms, n, real_v, real_p, text_q)
    finally:
        if not args.reuse_server:
            ms.stop()
    log(f"results in {os.path.relpath(rep.md, ROOT)}")


if __name__ == "__main__":
    main()
