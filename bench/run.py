#!/usr/bin/env python3
"""`make bench`: shihua's speed benchmarks (issue 6) and the mixed-load test (issue 7).

    .venv-bench/bin/python bench/run.py [index] [query] [load] [--levers] [--device cpu|cuda]

Each part prints its tables and appends them, with the machine (CPU model, cores, memory, load
average), the commit and the exact commands, to bench/results/<date>-<commit>.md.

- index: on the same N (default 200) photos of ../shared/datasets/photos: (a) the reference
  article's Python loop (cn_clip + torch, one image at a time, pymilvus inserts of 300) on the
  same random ViT-B-16 weights; (b) raw ONNX Runtime throughput of the image graph on already
  preprocessed tensors (the ceiling); (c) `shihua index` end to end, fp32 and int8. With
  --levers also: encode batch 1 and 2, one ORT thread, reduced-scale JPEG decode, raw ORT at
  batch 1/2/16 with 1 and all threads.
- query: text and picture search through HTTP with wrk against 10,000 and 100,000 rows
  (200 real photos + synthetic unit vectors), concurrency 1 and 8, fp32 (and int8 at 10,000);
  server RSS after start and after >= 1,000 queries.
- load: 50 concurrent clients mixing text searches, thumbnails and picture searches for 60 s.

Nothing here asserts a time: it measures and reports. Uses the random-weight export in
models/ViT-B-16-random (speed does not depend on weight values).
"""
import argparse
import datetime
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from common import commit, loadavg, rss_mb  # bench/common.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = os.path.join(ROOT, "bench", "tmp")
RESULTS = os.path.join(ROOT, "bench", "results")
MODEL = "ViT-B-16-random"
SHIHUA = os.path.join(ROOT, "target", "release", "shihua")
PY = sys.executable
COLLECTION = "bench_index"
ORT_GPU = os.path.join(ROOT, ".venv-bench", "ort-gpu")
# Extra environment of every command (set by cuda_env() for --device cuda).
DEVICE_ENV = {}
# The last "model <id> <variant>: <why>; <weights>" line shihua logged.
LAST_CHOICE = [""]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None, check=True):
    """Run a command, echo it, return (stdout, seconds)."""
    log("$ " + shlex.join(cmd))
    LAST_CHOICE[0] = ""
    env = {**(env or os.environ), **DEVICE_ENV}
    t = time.time()
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    dt = time.time() - t
    # shihua logs which weights it chose (server::startup at info level).
    for line in re.sub(r"\x1b\[[0-9;]*m", "", p.stderr or "").splitlines():
        if "server::startup: model " in line:
            LAST_CHOICE[0] = line.split("server::startup: ", 1)[1].strip()
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"command failed ({p.returncode}): {shlex.join(cmd)}")
    return p.stdout, dt


def json_lines(out, prefix=""):
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if prefix:
            if not line.startswith(prefix):
                continue
            line = line[len(prefix):].strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def busy():
    load1 = float(loadavg().split()[0])
    if load1 > 0.5 * (os.cpu_count() or 1):
        return (f" — **machine busy** (load {load1:.1f} on {os.cpu_count()} cores): other work "
                "shares the CPU, figures are pessimistic and noisy")
    return ""


def machine():
    model = "?"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // (1024 * 1024)
    return f"{model}, {os.cpu_count()} cores, {mem} GiB; int8 flags: {cpu_flags()}"


def cpu_flags():
    """The CPU flags that decide int8 speed (VNNI/AMX: signed int8 weights run fastest)."""
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    want = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
    return " ".join(x for x in want if x in flags) or "none of avx2/avx512/vnni/amx"


def has_vnni():
    return any(f in cpu_flags().split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


class Report:
    def __init__(self, argv):
        self.commit = commit()
        day = datetime.date.today().isoformat()
        os.makedirs(RESULTS, exist_ok=True)
        self.path = os.path.join(RESULTS, f"{day}-{self.commit}.md")
        self.parts = []
        self.commands = []
        self.argv = argv

    def header(self, title):
        return (f"\n## {title}\n\n"
                f"- when: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
                f"- machine: {machine()}\n"
                f"- load average (1/5/15 min) at start: {loadavg()}{busy()}\n"
                f"- commit: {self.commit}\n"
                f"- command: `{shlex.join(self.argv)}`\n")

    def table(self, headers, rows):
        out = "| " + " | ".join(headers) + " |\n|" + "---|" * len(headers) + "\n"
        for r in rows:
            out += "| " + " | ".join(str(x) for x in r) + " |\n"
        return out

    def emit(self, text):
        print(text, flush=True)
        with open(self.path, "a") as f:
            f.write(text + "\n")


def fmt(x, nd=1):
    if x is None:
        return "–"
    return f"{x:.{nd}f}"


# ----------------------------------------------------------------------------- photos

def prepare_photos(n, source):
    """bench/tmp/photos-<n>: symlinks to every k-th photo of the dataset (sorted), so the set
    spans every source package (small PNGs to 6K JPEGs)."""
    files = sorted(p for p in glob.glob(os.path.join(source, "*"))
                   if p.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
    if len(files) < n:
        raise SystemExit(f"{source} has {len(files)} photos, fewer than {n}")
    step = len(files) / n
    chosen = [files[int(i * step)] for i in range(n)]
    d = os.path.join(TMP, f"photos-{n}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for p in chosen:
        os.symlink(os.path.abspath(p), os.path.join(d, os.path.basename(p)))
    mb = sum(os.path.getsize(p) for p in chosen) / 1e6
    jpgs = sum(p.lower().endswith((".jpg", ".jpeg")) for p in chosen)
    return d, f"{n} photos ({jpgs} JPEG, {n - jpgs} PNG/WebP, {mb:.0f} MB) from {source}"


def query_jpeg():
    """A 1-megapixel JPEG query picture (1155 x 866, quality 90) made from a dataset photo."""
    path = os.path.join(TMP, "query-1mp.jpg")
    if not os.path.exists(path):
        from PIL import Image
        src = sorted(glob.glob(os.path.join(ROOT, "demo", "photos", "*.jpg")))[0]
        Image.open(src).convert("RGB").resize((1155, 866), Image.BICUBIC).save(path, quality=90)
    return path


# ----------------------------------------------------------------------------- index

def shihua_env():
    env = {**os.environ, **DEVICE_ENV}
    env.setdefault("RUST_LOG", "warn")
    return env


def shihua_index(photos, variant, device, tag, extra=(), index_args=(), env_extra=None):
    """`shihua index` with `--variant variant` (None: the default, auto); env_extra e.g.
    SHIHUA_CPU_FEATURES=none forces the uint8 int8 weights on a VNNI CPU."""
    db = os.path.join(TMP, f"index-{tag}.db")
    for f in glob.glob(db + "*") + glob.glob(os.path.join(TMP, f".index-{tag}.db.lock")):
        os.remove(f)
    var = ["--variant", variant] if variant else []
    cmd = [SHIHUA, "--model", MODEL, *var, "--device", device,
           "--milvus-uri", db, "--collection", COLLECTION,
           "--data-dir", os.path.join(TMP, "data"), *extra, "index", photos, "--recreate",
           *index_args]
    env = {**shihua_env(), "RUST_LOG": "warn,server::startup=info", **(env_extra or {})}
    out, wall = run(cmd, env=env)
    if env_extra:
        cmd = [f"{k}={v}" for k, v in env_extra.items()] + cmd
    rate = None
    indexed = None
    wall_s = None
    spent = ""
    for line in out.splitlines():
        if line.startswith("time spent:"):
            spent = line[len("time spent:"):].strip()
        if line.startswith("wall time:"):
            wall_s = float(line.split()[2])
            rate = float(line.split(",")[1].split()[0])
        if line.startswith("indexed:"):
            indexed = int(line.split()[1])
    if indexed and wall_s:
        rate = indexed / wall_s  # more digits than the printed rate
    return {"images_per_s": rate, "indexed": indexed, "process_wall_s": wall,
            "cmd": shlex.join(cmd), "db": db, "spent": spent, "choice": LAST_CHOICE[0]}


def bench_index(rep, args):
    photos, desc = prepare_photos(args.photos, args.photo_source)
    model_dir = os.path.join(ROOT, "models", MODEL)
    rep.emit(rep.header(f"Indexing throughput ({args.device})"))
    rep.emit(f"- photos: {desc}\n- model: {MODEL} (cn_clip ViT-B-16 architecture, random "
             "weights, seed 20241127)\n")
    cmds = []

    ref_cmd = [PY, "bench/index/reference.py", "--photos", photos, "--model-dir", model_dir,
               "--db", os.path.join(TMP, "reference.db"), "--device", args.device]
    out, _ = run(ref_cmd)
    ref = json_lines(out)[-1]
    cmds.append(ref_cmd)

    # The signed-weight copies (what --variant int8 loads on a VNNI CPU) are made by shihua at
    # first load: make them now, outside every timed run, so the ceiling can time them too.
    vnni = has_vnni() and args.device == "cpu"
    if vnni:
        run([SHIHUA, "--model", MODEL, "--variant", "int8", "--device", args.device,
             "embed", "--text", "夕阳西下"], env={**shihua_env(), "RUST_LOG": "warn"})
    variants = "fp32,int8" + (",int8.s8" if vnni else "")

    # The ceiling runs at shihua's default encode batch for the device (ingest.rs).
    batch = "16" if args.device == "cpu" else "32"
    ceil_cmd = [PY, "bench/index/ort_ceiling.py", "--photos", photos, "--model-dir", model_dir,
                "--variants", variants, "--batch", batch, "--device", args.device,
                "--profile", "3"]
    out, _ = run(ceil_cmd)
    ceil = json_lines(out)
    cmds.append(ceil_cmd)
    c32 = next(r for r in ceil if r["what"] == "ort_ceiling" and r["variant"] == "fp32")
    c8 = next(r for r in ceil if r["what"] == "ort_ceiling" and r["variant"] == "int8")
    cs8 = next((r for r in ceil if r["what"] == "ort_ceiling" and r["variant"] == "int8.s8"),
               None)
    cosines = [r for r in ceil if r["what"] == "variant_cosine"]
    profiles = [r for r in ceil if r["what"] == "ort_profile"]

    s32 = shihua_index(photos, "fp32", args.device, "fp32")
    # uint8 int8 weights: on a VNNI CPU only with the detection forced off.
    s8u = shihua_index(photos, "int8", args.device, "int8",
                       env_extra={"SHIHUA_CPU_FEATURES": "none"} if vnni else None)
    s8s = shihua_index(photos, "int8", args.device, "int8s8") if vnni else None
    sdef = shihua_index(photos, None, args.device, "default")
    runs = [s32, s8u] + ([s8s] if s8s else []) + [sdef]
    cmds += [r["cmd"].split(" ") for r in runs]

    a = ref["images_per_s"]
    rows = [
        ["a) reference loop (cn_clip + torch, 1 image at a time, inserts of 300)",
         fmt(a, 2), "1.00", "–", f"{ref['images']} images, torch {ref['torch']}, "
         f"{ref['torch_threads']} threads; torch vs image.onnx cosine "
         f"{ref['torch_vs_onnx_cosine']:.6f}"],
        [f"b) raw ORT, image graph fp32, batch {batch} (ceiling)", fmt(c32["images_per_s"], 2),
         fmt(c32["images_per_s"] / a, 2), "1.00", "preprocessing done before the clock"],
        [f"b) raw ORT, image graph int8 uint8 weights, batch {batch} (ceiling)",
         fmt(c8["images_per_s"], 2), fmt(c8["images_per_s"] / a, 2), "1.00", ""],
    ]
    if cs8:
        rows.append([f"b) raw ORT, image graph int8 signed (s8) weights, batch {batch} (ceiling)",
                     fmt(cs8["images_per_s"], 2), fmt(cs8["images_per_s"] / a, 2), "1.00",
                     "image.int8.s8.onnx, re-encoded by shihua"])
    cref = {"fp32": c32, "int8": c8, "int8s8": cs8 or c8}
    for label, r, ceiling in [
        ("c) `shihua index --variant fp32` end to end", s32, c32),
        ("c) `shihua index --variant int8`, uint8 weights"
         + (" (SHIHUA_CPU_FEATURES=none)" if vnni else ""), s8u, c8),
        ("c) `shihua index --variant int8`, signed weights (VNNI)", s8s, cs8),
        ("c) `shihua index` default (`--variant auto`)", sdef,
         cref["int8s8" if "int8 (s8)" in sdef["choice"] else
              ("int8" if " int8:" in sdef["choice"] else "fp32")]),
    ]:
        if r is None:
            continue
        rows.append([label, fmt(r["images_per_s"], 2), fmt(r["images_per_s"] / a, 2),
                     fmt(r["images_per_s"] / ceiling["images_per_s"], 2),
                     f"{r['indexed']} indexed; process wall {r['process_wall_s']:.1f} s incl. "
                     f"model load; {r['spent']}; chose: {r['choice'] or '?'}"])
    if args.levers:
        for label, variant, extra, batch_args in [
            ("lever: `shihua index` fp32, --encode-batch 1", "fp32", (), ["--encode-batch", "1"]),
            ("lever: `shihua index` int8, --encode-batch 1", "int8", (), ["--encode-batch", "1"]),
            ("lever: `shihua index` int8, --encode-batch 2", "int8", (), ["--encode-batch", "2"]),
            ("lever: `shihua index` fp32, --threads 1", "fp32", ("--threads", "1"), []),
            ("lever: `shihua index` fp32, --jpeg-draft", "fp32", ("--jpeg-draft",), []),
            ("lever: `shihua index` int8, --jpeg-draft", "int8", ("--jpeg-draft",), []),
            ("lever: `shihua index` default, --jpeg-draft", None, ("--jpeg-draft",), []),
            ("lever: `shihua index` default, --decode-threads 1", None, (),
             ["--decode-threads", "1"]),
        ]:
            lever = shihua_index(photos, variant, args.device, "lever", extra, batch_args)
            rate = lever["images_per_s"]
            cref = c32 if variant == "fp32" else (
                cs8 if (cs8 and "int8 (s8)" in lever["choice"]) else c8)
            rows.append([label, fmt(rate, 2), fmt(rate / a, 2),
                         fmt(rate / cref["images_per_s"], 2), lever["spent"]])
            cmds.append(lever["cmd"].split(" "))
        lever_cmd = [PY, "bench/index/ort_ceiling.py", "--photos", photos, "--model-dir",
                     model_dir, "--variants", "fp32,int8", "--batch", "1,2,16", "--threads", "1,0",
                     "--limit", "48", "--device", args.device]
        out, _ = run(lever_cmd)
        cmds.append(lever_cmd)
        for r in json_lines(out):
            if r["what"] == "ort_ceiling":
                rows.append([f"lever: raw ORT {r['variant']}, batch {r['batch']}, "
                             f"{r['threads'] or 'all'} thread(s), 48 photos",
                             fmt(r["images_per_s"], 2), fmt(r["images_per_s"] / a, 2), "–", ""])
    rep.emit(rep.table(["run", "images/s", "÷ a", "÷ b (same variant)", "notes"], rows))
    d = sdef["images_per_s"] / a
    f = s32["images_per_s"] / c32["images_per_s"]
    rep.emit("Targets (issue 15):\n\n" + rep.table(["target", "measured", "met?"], [
        ["`shihua index` default variant ≥ 3× the reference loop", f"{d:.2f}×",
         "yes" if d >= 3 else "**no**"],
        ["`shihua index` fp32 ≥ 95 % of the fp32 ORT ceiling", f"{100 * f:.0f} %",
         "yes" if f >= 0.95 else "**no**"],
    ]))
    for p in profiles:
        rep.emit(f"Where the image graph's time goes, {p['variant']} (ONNX Runtime profiler, "
                 f"batch {p['batch']}, {p['runs']} batches; wall {p['ms_per_image_wall']:.1f} "
                 "ms per image):\n")
        top = p["ops"][:6]
        rest = p["ops"][6:]
        rows_p = [[op, f"{100 * share:.1f} %", f"{ms:.1f}"] for op, share, ms in top]
        if rest:
            rows_p.append([f"{len(rest)} other operator types",
                           f"{100 * sum(r[1] for r in rest):.1f} %",
                           f"{sum(r[2] for r in rest):.1f}"])
        rep.emit(rep.table(["operator", "share of kernel time", "ms per image"], rows_p))
    for cos in cosines:
        rep.emit(f"{cos['variant']} vs {cos['vs']} embeddings of the same {cos['images']} photos "
                 f"(batch {cos['batch']}): min cosine {cos['min']:.7f}, mean {cos['mean']:.7f}\n")
    rep.emit(f"load average at end: {loadavg()}\n\nCommands:\n\n```sh\n"
             + "\n".join(shlex.join([os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                     for c in cmd]) for cmd in cmds) + "\n```\n")
    return sdef["db"]


# ----------------------------------------------------------------------------- serve

# `shihua serve` options for latency runs from one client (wrk): the per-client picture limit
# lifted, the shared queue left as it is.
LIFT_CLIENT_LIMITS = ("--picture-rate", "1000000", "--picture-burst", "1000000")


class Server:
    def __init__(self, db, variant, device, port, extra=(), serve_extra=()):
        self.data = os.path.join(TMP, f"serve-data-{port}")
        shutil.rmtree(self.data, ignore_errors=True)
        var = ["--variant", variant] if variant else []
        self.cmd = [SHIHUA, "--model", MODEL, *var, "--device", device,
                    "--milvus-uri", db, "--collection", COLLECTION, "--data-dir", self.data,
                    *extra, "serve", "--addr", f"127.0.0.1:{port}", *serve_extra]
        self.url = f"http://127.0.0.1:{port}"
        log("$ " + shlex.join(self.cmd))
        self.log = open(os.path.join(TMP, f"serve-{port}.log"), "w")
        t = time.time()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=shihua_env(), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"shihua serve exited ({self.proc.returncode}); see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() - t > 600:
                raise SystemExit("shihua serve did not answer /healthz in 600 s")
            time.sleep(0.5)
        self.start_s = time.time() - t
        with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
            h = json.loads(r.read())
        self.choice = f"{h.get('variant')}: {h.get('kernel', '?')}"

    def rss_mb(self):
        return rss_mb(self.proc.pid)

    def milvus_rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return sum(rss_mb(int(c)) for c in f.read().split())
        except OSError:
            return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wrk(url, script, conns, seconds, env_extra):
    cmd = ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{seconds}s",
           "--timeout", "60s", "-s", script, url]
    env = dict(os.environ, **env_extra)
    out, _ = run(cmd, env=env)
    r = json_lines(out, "BENCH_JSON")[-1]
    r["errors"] = sum(r[k] for k in r if k.startswith("errors_"))
    r["cmd"] = " ".join(f"{k}={v}" for k, v in env_extra.items()) + " " + shlex.join(cmd)
    return r


def top_up(url, n):
    """Send n more text queries (distinct texts), sequentially."""
    import httpx
    with httpx.Client(base_url=url, timeout=120) as c:
        for i in range(n):
            c.get("/api/v1/search", params={"q": f"夕阳西下 top-up {i}", "k": 10}).raise_for_status()


def ensure_rows(src_db, rows):
    tag = os.path.basename(src_db).removesuffix(".db").removeprefix("index-")
    db = os.path.join(TMP, f"q{rows}-{tag}.db")
    marker = db + f".{rows}.done"
    if not (os.path.exists(db) and os.path.exists(marker)):
        for f in glob.glob(db + "*"):
            os.remove(f)
        shutil.copy(src_db, db)
        run([PY, "bench/query/fill.py", "--db", db, "--collection", COLLECTION,
             "--rows", str(rows)])
        open(marker, "w").close()
    return db


def source_db(args, tag):
    """The indexed 200 photos for `tag` (fp32: --variant fp32; default: --variant auto),
    indexing them when an earlier index part did not."""
    db = os.path.join(TMP, f"index-{tag}.db")
    if not os.path.exists(db):
        photos, _ = prepare_photos(args.photos, args.photo_source)
        db = shihua_index(photos, "fp32" if tag == "fp32" else None, args.device, tag)["db"]
    return db


def bench_query(rep, args):
    image = query_jpeg()
    rep.emit(rep.header(f"Query latency through HTTP ({args.device})"))
    rep.emit(f"- wrk 4.1.0, {args.seconds} s per run, timeout 60 s; text queries are poem "
             "lines; 'new text' = every request a text never seen (the text cache misses), "
             "'same text' = one line repeated (served by the LRU text cache); picture = a 1 MP "
             f"JPEG ({os.path.getsize(image) // 1024} KB, 1155 × 866) as multipart upload; "
             "'new upload' = a unique JPEG comment in every request, so the content-hashed "
             "query-picture cache misses and the picture is decoded and encoded each time; "
             "'same upload' = identical bytes (the cache answers)\n"
             f"- rows: {COLLECTION} = 200 real photos + synthetic random unit vectors; Milvus "
             "Lite 2.5.1 embedded (IVF_FLAT COSINE nlist 512; Lite searches exhaustively)\n")
    rows, mem, cmds = [], [], []
    targets = {}
    port = 3900
    sizes = [int(x) for x in args.rows.split(",")]
    # fp32 at every size, then the default (auto) on a collection it indexed itself (auto
    # follows an existing collection's variant).
    plan = [("fp32", n) for n in sizes] + [(None, sizes[0])]
    for variant, n in plan:
        db = ensure_rows(source_db(args, variant or "default"), n)
        port += 1
        # wrk is one client: lift the per-client picture limit (fairness is bench_load's job),
        # or the latency runs would time 429 answers.
        srv = Server(db, variant, args.device, port, serve_extra=LIFT_CLIENT_LIMITS)
        variant = variant or f"default ({srv.choice})"
        rss0, mrss0 = srv.rss_mb(), srv.milvus_rss_mb()
        cmds.append(srv.cmd)
        total = 0
        try:
            for label, script, env_extra, conns in [
                ("text, new text", "bench/query/text.lua", {"BENCH_TEXT_MODE": "miss"}, 1),
                ("text, new text", "bench/query/text.lua", {"BENCH_TEXT_MODE": "miss"}, 8),
                ("text, same text (cached)", "bench/query/text.lua", {"BENCH_TEXT_MODE": "hit"}, 1),
                ("picture 1 MP, new upload", "bench/query/image.lua", {"BENCH_IMAGE": image, "BENCH_IMAGE_MODE": "miss"}, 1),
                ("picture 1 MP, new upload", "bench/query/image.lua", {"BENCH_IMAGE": image, "BENCH_IMAGE_MODE": "miss"}, 8),
                ("picture 1 MP, same upload (cached)", "bench/query/image.lua", {"BENCH_IMAGE": image, "BENCH_IMAGE_MODE": "hit"}, 1),
            ]:
                r = wrk(srv.url, script, conns, args.seconds, env_extra)
                if variant.startswith("default") and conns == 1 and "new" in label:
                    # a run with failed requests timed errors, not searches: no figure
                    targets[label] = r["p50_ms"] if not r["errors"] else None
                total += r["requests"]
                rows.append([variant, f"{n:,}", label, conns, fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                             fmt(r["qps"], 2), r["requests"], r["errors"]])
                cmds.append(r["cmd"])
            if total < 1000:
                top_up(srv.url, 1000 - total)
                total = 1000
            if variant.startswith("default"):
                targets["rss"] = max(rss0 or 0, srv.rss_mb() or 0)
            if n == sizes[0]:
                mem.append([variant, f"{n:,}", fmt(srv.start_s), fmt(rss0, 0),
                            fmt(srv.rss_mb(), 0), total, fmt(mrss0, 0),
                            fmt(srv.milvus_rss_mb(), 0)])
        finally:
            srv.stop()
    rep.emit(rep.table(["variant", "rows", "query", "concurrency", "p50 ms", "p99 ms", "QPS",
                        "requests", "errors"], rows))
    rep.emit("Server memory (VmRSS of the `shihua serve` process; the embedded Milvus Lite "
             "child separately):\n")
    rep.emit(rep.table(["variant", "rows", "start-up s", "RSS after start MB",
                        "RSS after queries MB", "queries", "Milvus Lite RSS start MB",
                        "Milvus Lite RSS end MB"], mem))
    pic = targets.get("picture 1 MP, new upload")
    txt = targets.get("text, new text")
    rss = targets.get("rss")
    rep.emit(f"Targets (issue 15; default variant, {sizes[0]:,} rows, concurrency 1):\n\n"
             + rep.table(["target", "measured", "met?"], [
                 ["picture query (1 MP JPEG, new upload) p50 ≤ 150 ms", fmt(pic) + " ms",
                  "–" if pic is None else ("yes" if pic <= 150 else "**no**")],
                 ["text query (new text) p50 ≤ 20 ms", fmt(txt) + " ms",
                  "–" if txt is None else ("yes" if txt <= 20 else "**no**")],
                 ["server RSS ≤ 1.2 GB", fmt(rss, 0) + " MB",
                  "–" if rss is None else ("yes" if rss <= 1200 else "**no**")],
             ]))
    rep.emit(f"load average at end: {loadavg()}\n\nCommands:\n\n```sh\n"
             + "\n".join(c if isinstance(c, str) else shlex.join(c) for c in cmds) + "\n```\n")


def bench_load(rep, args):
    image = query_jpeg()
    other = sorted(glob.glob(os.path.join(ROOT, "demo", "photos", "*.jpg")))[-1]
    db = ensure_rows(source_db(args, "fp32"), 10000)
    rep.emit(rep.header(f"Mixed load: {args.clients} clients for {args.load_seconds} s "
                        f"({args.device})"))
    # Every client has its own address (X-Forwarded-For, trusted as behind a proxy), so the
    # per-client picture limits apply per client, as they would for real visitors.
    srv = Server(db, "fp32", args.device, 3990, serve_extra=["--trust-forwarded-for"])
    try:
        cmd = [PY, "bench/load/mixed.py", "--url", srv.url, "--pid", str(srv.proc.pid),
               "--clients", str(args.clients), "--seconds", str(args.load_seconds),
               "--image", image, "--image", other, "--forwarded-for"]
        out, _ = run(cmd)
        r = json_lines(out, "BENCH_JSON")[-1]
    finally:
        srv.stop()
    rows = [[k, v["ok"], v["errors"], v.get("refused", 0), fmt(v["p50_ms"]), fmt(v["p99_ms"]),
             fmt(v["max_ms"])] for k, v in r["kinds"].items()]
    rep.emit(f"- fp32, 10,000 rows, fresh thumbnail cache; mix {r['mix']}; "
             f"{r['requests']} requests in {r['seconds']:.1f} s = {r['qps']:.2f} req/s; "
             f"**errors: {r['errors']}** {r['error_samples'] or ''}; refused (429): "
             f"{r.get('refused', 0)}\n")
    rep.emit(rep.table(["kind", "ok", "errors", "429", "p50 ms", "p99 ms", "max ms"], rows))
    rep.emit(f"Server RSS: {fmt(r['rss_start_mb'], 0)} MB at start of the load, "
             f"{fmt(r['rss_end_mb'], 0)} MB at the end (min {fmt(r['rss_min_mb'], 0)}, "
             f"max {fmt(r['rss_max_mb'], 0)}, sampled every second); Milvus Lite "
             f"{fmt(r['milvus_rss_start_mb'], 0)} → {fmt(r['milvus_rss_end_mb'], 0)} MB.\n")
    rep.emit(f"load average at end: {loadavg()}\n\nCommands:\n\n```sh\n{shlex.join(srv.cmd)}\n"
             f"{shlex.join(cmd)}\n```\n")
    bench_fair(rep, args, db, image, other)


def bench_fair(rep, args, db, image, other):
    """Issue 19: one client posting pictures in a tight loop beside 20 normal clients. The
    normal clients' text searches should keep p99 <= 1 s and their pictures get answers."""
    n = args.fair_clients
    rep.emit(rep.header(f"Fairness: one client posting pictures in a tight loop beside {n} "
                        f"normal clients, {args.load_seconds} s ({args.device})"))
    srv = Server(db, "fp32", args.device, 3991, serve_extra=["--trust-forwarded-for"])
    try:
        cmd = [PY, "bench/load/mixed.py", "--url", srv.url, "--pid", str(srv.proc.pid),
               "--clients", str(n), "--seconds", str(args.load_seconds),
               "--image", image, "--image", other, "--forwarded-for", "--abuser"]
        out, _ = run(cmd)
        r = json_lines(out, "BENCH_JSON")[-1]
    finally:
        srv.stop()
    rows = [[k, v["ok"], v["errors"], v.get("refused", 0), fmt(v["p50_ms"]), fmt(v["p99_ms"]),
             fmt(v["max_ms"])] for k, v in r["kinds"].items()]
    a = r["abuser"]
    text_p99 = r["kinds"].get("text", {}).get("p99_ms")
    pics = r["kinds"].get("image", {})
    verdict = (f"text p99 {fmt(text_p99)} ms (target <= 1000: "
               f"{'met' if text_p99 is not None and text_p99 <= 1000 else 'NOT met'}); "
               f"normal picture searches answered {pics.get('ok', 0)}, refused "
               f"{pics.get('refused', 0)}, errors/timeouts {pics.get('errors', 0)}")
    rep.emit(f"- fp32, 10,000 rows, defaults (`--picture-queue 8 --picture-rate 30 "
             f"--picture-burst 5`); normal mix {r['mix']}; **{verdict}**; "
             f"{r['error_samples'] or ''}\n")
    rep.emit(rep.table(["normal clients", "ok", "errors", "429", "p50 ms", "p99 ms", "max ms"], rows))
    rep.emit(f"The tight-loop client: {a['ok']} pictures answered, {a['refused']} refused with 429, "
             f"{a['errors']} errors; its p50 {fmt(a['p50_ms'])} ms, p99 {fmt(a['p99_ms'])} ms.\n")
    rep.emit(f"load average at end: {loadavg()}\n\nCommands:\n\n```sh\n{shlex.join(srv.cmd)}\n"
             f"{shlex.join(cmd)}\n```\n")


def cuda_env():
    """The environment that puts ONNX Runtime on the GPU, for shihua and the Python scripts:
    onnxruntime-gpu from .venv-bench/ort-gpu (bench/setup.sh --cuda), the CUDA 13 / cuDNN 9
    libraries of the nvidia-* wheels in .venv-bench on LD_LIBRARY_PATH. Stops with a clear
    message if either is missing or no GPU can be used."""
    capi = os.path.join(ORT_GPU, "onnxruntime", "capi")
    libs = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so.*")))
    if not libs:
        raise SystemExit("--device cuda needs onnxruntime-gpu: run `bench/setup.sh --cuda` "
                         "(make bench BENCH_ARGS=\"--device cuda\" does)")
    nvidia = sorted(glob.glob(os.path.join(ROOT, ".venv-bench", "lib", "python3*",
                                           "site-packages", "nvidia", "*", "lib")))
    if not nvidia:
        raise SystemExit("no nvidia-* CUDA libraries in .venv-bench: run bench/setup.sh")
    ld = [capi, *nvidia] + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    env = {"ORT_DYLIB_PATH": libs[-1], "LD_LIBRARY_PATH": ":".join(ld),
           "PYTHONPATH": ORT_GPU}
    probe = subprocess.run(
        [PY, "-c", "import onnxruntime as o; print(o.__file__); print(o.get_available_providers())"],
        env={**os.environ, **env}, capture_output=True, text=True)
    if probe.returncode != 0 or "CUDAExecutionProvider" not in probe.stdout:
        raise SystemExit("onnxruntime-gpu did not load with CUDA: "
                         + (probe.stdout + probe.stderr)[-2000:])
    smi = shutil.which("nvidia-smi")
    gpus = subprocess.run([smi, "-L"], capture_output=True, text=True) if smi else None
    if gpus is None or gpus.returncode != 0 or "GPU" not in gpus.stdout:
        raise SystemExit("--device cuda: no NVIDIA GPU is visible (nvidia-smi -L: "
                         + ((gpus.stdout + gpus.stderr).strip() if gpus else "not installed")
                         + ")")
    log(gpus.stdout.strip())
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", default=["index", "query", "load"],
                    choices=["index", "query", "load"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--photo-source", default=os.path.join(ROOT, "..", "shared", "datasets",
                                                          "photos"))
    ap.add_argument("--levers", action="store_true", help="also measure each speed lever")
    ap.add_argument("--seconds", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--rows", default="10000,100000",
                    help="collection sizes for the query part (int8 runs on the first)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--load-seconds", type=int, default=60)
    ap.add_argument("--fair-clients", type=int, default=20,
                    help="normal clients beside the tight-loop picture poster (fairness run)")
    args = ap.parse_args()
    os.makedirs(TMP, exist_ok=True)
    if args.device == "cuda":
        DEVICE_ENV.update(cuda_env())
    if not os.path.exists(SHIHUA):
        raise SystemExit(f"{SHIHUA} is missing: run `make bench` (it builds it)")
    if not os.path.exists(os.path.join(ROOT, "models", MODEL, "image.int8.onnx")):
        raise SystemExit(f"models/{MODEL} is missing: run bench/setup.sh (it exports it)")
    rep = Report([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    if "index" in args.parts:
        bench_index(rep, args)
        for f in glob.glob(os.path.join(TMP, "q*.db*")):  # made from the previous index
            os.remove(f)
    if "query" in args.parts:
        bench_query(rep, args)
    if "load" in args.parts:
        bench_load(rep, args)
    log(f"results appended to {os.path.relpath(rep.path, ROOT)}")


if __name__ == "__main__":
    main()
