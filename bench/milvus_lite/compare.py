#!/usr/bin/env python3
"""Compare Milvus Lite 2.5.1 (native binary) with Milvus Lite 3.2.2 (Python + FAISS).

Each server runs as its own process on 127.0.0.1 with a fresh temporary data dir and is driven
over gRPC by pymilvus ``MilvusClient(uri="http://127.0.0.1:PORT")`` from the interpreter running
this script (it needs pymilvus and numpy; see requirements.txt). The servers come from two venvs:

    --venv25 /tmp/mlite25   milvus-lite==2.5.1          (site-packages/milvus_lite/lib/milvus)
    --venv32 /tmp/mlite32   pymilvus[milvus-lite]==3.0.2 (bin/milvus-lite, i.e. milvus-lite 3.2.2)

Per server it measures: start-up time until list_collections succeeds (several cold starts),
idle RSS of the server process tree (from /proc), the shihua reference collection (auto INT64 id,
FLOAT_VECTOR 512 `vectors`, VARCHAR(200) `filepath`, dynamic fields on) with N random unit vectors
inserted in batches, flush, IVF_FLAT COSINE nlist 512 index, load, RSS after, single-vector top-10
search latency (nprobe 16) plus recall@10 against exact numpy search, then a restart on the same
data timed until count(*) answers N. Servers are stopped with SIGTERM (SIGKILL after a grace
period) and the script checks that none of their processes is left.

Usage (see README.md):
    /tmp/mlite25/bin/python compare.py --venv25 /tmp/mlite25 --venv32 /tmp/mlite32 \
        --out results.md --json results.json
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient

COLLECTION = "bench_photos"
LIVE_SERVERS: list["Server"] = []  # stopped at exit whatever happens


# --------------------------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------------------------

def _ppid_map() -> dict[int, int]:
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            # comm may contain spaces/parens: fields after the last ')'
            rest = s[s.rindex(")") + 2:].split()
            out[int(d)] = int(rest[1])
        except (OSError, ValueError, IndexError):
            pass
    return out


def process_tree(root: int) -> list[int]:
    ppids = _ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    if root not in ppids:
        return []
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> dict:
    pids = process_tree(root)
    return {
        "pids": len(pids),
        "rss_mb": sum(_status_kb(p, "VmRSS") for p in pids) / 1024,
        "pss_mb": sum(_pss_kb(p) for p in pids) / 1024,
        "threads": sum(_status_kb(p, "Threads") for p in pids),
    }


def listening_addrs(pids: list[int]) -> list[str]:
    """TCP sockets in LISTEN state owned by these processes, as 'addr:port'."""
    inodes = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    found = []
    for fname, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(fname).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:
                continue
            hexaddr, hexport = f[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if v6:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = "[" + socket.inet_ntop(socket.AF_INET6, words) + "]"
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            found.append(f"{addr}:{int(hexport, 16)}")
    return sorted(set(found))


def dir_size_mb(path: Path) -> float:
    total = 0
    for dp, _, files in os.walk(path):
        for fn in files:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_size
            except OSError:
                pass
    return total / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------

class Server:
    def __init__(self, name: str, venv: Path, workdir: Path, port: int, log: Path):
        self.name, self.venv, self.workdir, self.port, self.log = name, venv, workdir, port, log
        self.proc: subprocess.Popen | None = None
        self.t0 = 0.0
        self.uri = f"http://127.0.0.1:{port}"

    def command(self) -> tuple[list[str], dict]:
        env = dict(os.environ)
        if self.name == "2.5.1":
            sp = next((self.venv / "lib").glob("python3*/site-packages"))
            lib = sp / "milvus_lite" / "lib"
            env["LD_LIBRARY_PATH"] = str(lib)
            db = (self.workdir / "milvus.db").resolve()
            return [str(lib / "milvus"), str(db), f"127.0.0.1:{self.port}", "ERROR"], env
        data = (self.workdir / "data").resolve()
        return [str(self.venv / "bin" / "milvus-lite"), "server", "--data-dir", str(data),
                "--host", "127.0.0.1", "--port", str(self.port)], env

    def start(self) -> None:
        cmd, env = self.command()
        logf = open(self.log, "ab")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.workdir)
        logf.close()
        LIVE_SERVERS.append(self)

    def wait_ready(self, timeout: float = 120.0) -> dict:
        """Seconds from spawn until the TCP port accepts and until list_collections succeeds."""
        assert self.proc
        deadline = self.t0 + timeout
        t_port = None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    t_port = time.perf_counter() - self.t0
                    break
            except OSError:
                time.sleep(0.005)
        if t_port is None:
            raise RuntimeError(f"{self.name}: port {self.port} never opened")
        last = None
        while time.perf_counter() < deadline:
            try:
                c = MilvusClient(uri=self.uri, timeout=5, dedicated=True)
                c.list_collections()
                return {"port_s": t_port, "ready_s": time.perf_counter() - self.t0, "client": c}
            except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
                last = e
                time.sleep(0.01)
        raise RuntimeError(f"{self.name}: list_collections never succeeded: {last}")

    def alive_pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def stop(self, grace: float = 15.0) -> dict:
        """SIGTERM the process group, SIGKILL after `grace` s. Checks nothing is left."""
        assert self.proc
        pids = self.alive_pids()
        pgid = self.proc.pid  # start_new_session: pgid == pid
        t = time.perf_counter()
        how = "SIGTERM"
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            how = f"SIGKILL (SIGTERM ignored for {grace:.0f} s)"
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        stop_s = time.perf_counter() - t
        # any process of the old tree (or group) still there? (pids may be reused: compare pgid)
        left = []
        for p in pids:
            try:
                if os.getpgid(p) == pgid:
                    left.append(p)
            except ProcessLookupError:
                pass
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        return {"stop_s": stop_s, "how": how, "exit_code": self.proc.returncode,
                "left_running": left}


def _cleanup() -> None:
    for s in list(LIVE_SERVERS):
        try:
            s.stop(grace=5)
        except Exception:  # noqa: BLE001
            pass


atexit.register(_cleanup)
for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, lambda *_: sys.exit(130))


# --------------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------------

def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def index_params(nlist: int, form: str, index_type: str = "IVF_FLAT"):
    """IVF_FLAT COSINE index params in one of two wire forms.

    "flat": pymilvus' usual ``params={"nlist": n}``, which pymilvus 3.0.2 sends as a separate
    ``nlist`` key/value pair. "json": ``params={"params": {"nlist": n}}``, sent as one ``params``
    key holding JSON (the form shihua's Rust client uses; accepted by Milvus and both lites).
    """
    ip = MilvusClient.prepare_index_params()
    build = {"nlist": nlist} if form == "flat" else {"params": {"nlist": nlist}}
    if index_type == "FLAT":
        build = {}
    ip.add_index(field_name="vectors", index_name="vectors_ivf", index_type=index_type,
                 metric_type="COSINE", params=build)
    return ip


def probe_index_forms(client: MilvusClient, nlist: int, dim: int) -> dict:
    """Create an index in each wire form on an empty scratch collection; what does the server record?"""
    out = {}
    for form in ("flat", "json"):
        name = f"probe_{form}"
        try:
            schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=True)
            schema.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
            schema.add_field("vectors", DataType.FLOAT_VECTOR, dim=dim)
            client.create_collection(name, schema=schema)
            client.create_index(name, index_params(nlist, form))
            d = client.describe_index(name, "vectors_ivf")
            out[form] = {k: str(v) for k, v in d.items()
                         if k in ("index_type", "metric_type", "nlist", "params")}
        except Exception as e:  # noqa: BLE001
            out[form] = f"error: {type(e).__name__}: {str(e)[:160]}"
        finally:
            try:
                client.drop_collection(name)
            except Exception:  # noqa: BLE001
                pass
    return out


def count_rows(client: MilvusClient) -> int:
    r = client.query(COLLECTION, filter="", output_fields=["count(*)"])
    return int(r[0]["count(*)"])


def bench_server(name: str, venv: Path, a: argparse.Namespace, base: Path) -> dict:
    res: dict = {"server": name}
    rng = np.random.default_rng(a.seed)
    data = unit_vectors(rng, a.n, a.dim)
    queries = unit_vectors(rng, a.queries + a.warmup, a.dim)

    # 1. cold starts on fresh, empty data dirs (the last one is kept for the rest)
    starts = []
    srv = None
    for i in range(a.startup_trials):
        wd = Path(tempfile.mkdtemp(prefix=f"run-{name}-{i}-", dir=base))
        srv = Server(name, venv, wd, free_port(), wd / "server.log")
        srv.start()
        r = srv.wait_ready()
        starts.append({k: r[k] for k in ("port_s", "ready_s")})
        if i < a.startup_trials - 1:
            r["client"].close()
            srv.stop()
    client = r["client"]
    res["startup"] = starts
    res["startup_ready_median_s"] = statistics.median(s["ready_s"] for s in starts)
    res["startup_port_median_s"] = statistics.median(s["port_s"] for s in starts)
    res["listening"] = listening_addrs(srv.alive_pids())
    time.sleep(a.settle)
    res["idle"] = tree_memory(srv.proc.pid)

    res["index_form_probe"] = probe_index_forms(client, a.nlist, a.dim)

    # 2. reference collection
    t = time.perf_counter()
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("vectors", DataType.FLOAT_VECTOR, dim=a.dim)
    schema.add_field("filepath", DataType.VARCHAR, max_length=200)
    client.create_collection(COLLECTION, schema=schema)
    res["create_collection_s"] = time.perf_counter() - t

    # 3. insert in batches (rows carry the dynamic fields shihua stores)
    ids: list[int] = []
    t = time.perf_counter()
    for b in range(0, a.n, a.batch):
        rows = [{
            "vectors": data[i].tolist(),
            "filepath": f"/photos/album-{i // 500:03d}/IMG_{i:06d}.jpg",
            "width": 4032, "height": 3024, "mtime": 1_700_000_000 + i,
            "model": "chinese-clip-vit-base-patch16",
            "sha256": f"{i:064x}",
        } for i in range(b, min(b + a.batch, a.n))]
        out = client.insert(COLLECTION, rows)
        ids.extend(int(x) for x in out["ids"])
    res["insert_s"] = time.perf_counter() - t
    res["insert_rows_per_s"] = a.n / res["insert_s"]
    res["ids_sample"] = ids[:3]
    t = time.perf_counter()
    client.flush(COLLECTION)
    res["flush_s"] = time.perf_counter() - t

    # 4. IVF_FLAT COSINE index, load
    ip = index_params(a.nlist, a.index_form, a.index_type)
    t = time.perf_counter()
    client.create_index(COLLECTION, ip)
    while True:  # should already be done; poll in case a server builds in the background
        d = client.describe_index(COLLECTION, "vectors_ivf")
        st = str(d.get("state", "Finished"))
        if "Finished" in st or "Failed" in st or time.perf_counter() - t > 600:
            break
        time.sleep(0.05)
    res["create_index_s"] = time.perf_counter() - t
    res["index_described"] = {k: str(v) for k, v in d.items()}
    t = time.perf_counter()
    client.load_collection(COLLECTION)
    res["load_s"] = time.perf_counter() - t
    res["count_after_load"] = count_rows(client)
    time.sleep(a.settle)
    res["loaded"] = tree_memory(srv.proc.pid)

    # 5. search latency + recall@10 against exact cosine search
    sp = {"metric_type": "COSINE", "params": {"nprobe": a.nprobe}}
    id_arr = np.asarray(ids)
    lat, recall, top1_before = [], [], None
    for qi, q in enumerate(queries):
        t = time.perf_counter()
        hits = client.search(COLLECTION, data=[q.tolist()], anns_field="vectors", limit=10,
                             search_params=sp, output_fields=["filepath"])
        dt_ = time.perf_counter() - t
        if qi < a.warmup:
            continue
        lat.append(dt_)
        got = [int(h["id"]) for h in hits[0]]
        if top1_before is None:
            top1_before = got
        exact = id_arr[np.argsort(-(data @ q))[:10]]
        recall.append(len(set(got) & set(exact.tolist())) / 10)
    ms = np.asarray(lat) * 1e3
    res["search"] = {
        "n": len(lat),
        "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()), "max_ms": float(ms.max()),
        "recall_at_10": float(np.mean(recall)),
    }
    res["after_search"] = tree_memory(srv.proc.pid)
    res["data_dir_mb"] = dir_size_mb(srv.workdir)
    client.close()
    res["stop1"] = srv.stop()

    # 6. restart on the same data: until count(*) == N (loading if the server needs it)
    srv2 = Server(name, venv, srv.workdir, srv.port, srv.log)
    srv2.start()
    r = srv2.wait_ready()
    client = r["client"]
    try:
        state = str(client.get_load_state(COLLECTION).get("state"))
    except Exception as e:  # noqa: BLE001
        state = f"error: {type(e).__name__}: {str(e)[:120]}"
    loads, last_err = 0, None
    while True:
        try:
            c = count_rows(client)
            if c == a.n:
                break
            last_err = f"count {c}"
        except Exception as e:  # noqa: BLE001
            last_err = f"{type(e).__name__}: {str(e)[:160]}"
            if loads < 3:
                client.load_collection(COLLECTION)
                loads += 1
                continue
        if time.perf_counter() - srv2.t0 > 300:
            raise RuntimeError(f"{name}: count never reached {a.n}: {last_err}")
        time.sleep(0.05)
    count_ok_s = time.perf_counter() - srv2.t0
    # then until a search answers (a server may answer count(*) before the collection is loaded)
    search_loads, search_err = 0, None
    while True:
        try:
            hits = client.search(COLLECTION, data=[queries[a.warmup].tolist()],
                                 anns_field="vectors", limit=10, search_params=sp,
                                 output_fields=["filepath"])
            break
        except Exception as e:  # noqa: BLE001
            search_err = f"{type(e).__name__}: {str(e)[:160]}"
            if search_loads >= 3 or time.perf_counter() - srv2.t0 > 300:
                raise
            client.load_collection(COLLECTION)
            search_loads += 1
    res["restart"] = {
        "ready_s": r["ready_s"],
        "load_state_at_ready": state,
        "count_ok_s": count_ok_s,
        "load_calls_before_count": loads,
        "first_count_error": last_err if loads else None,
        "searchable_s": time.perf_counter() - srv2.t0,
        "load_calls_before_search": search_loads,
        "first_search_error": search_err,
        "same_top10_as_before": [int(h["id"]) for h in hits[0]] == top1_before,
    }
    time.sleep(a.settle)
    res["restart"]["mem"] = tree_memory(srv2.proc.pid)
    client.close()
    res["stop2"] = srv2.stop()
    return res


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.rstrip()
    except Exception as e:  # noqa: BLE001
        return f"({e})"


def venv_packages(venv: Path) -> str:
    return sh(f"{venv}/bin/python -m pip freeze 2>/dev/null | grep -iE "
              f"'^(milvus-lite|pymilvus|numpy|faiss-cpu|grpcio|protobuf|pyarrow|pandas)=='"
              ).replace("\n", ", ")


def environment(a: argparse.Namespace) -> dict:
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": sh("nproc"),
        "cpu": cpu,
        "free_g": sh("free -g"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "client_python": sys.executable,
        "packages_25": venv_packages(a.venv25),
        "packages_32": venv_packages(a.venv32),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def idx_label(a: argparse.Namespace) -> str:
    return "FLAT" if a.index_type == "FLAT" else f"IVF_FLAT nlist {a.nlist}"


def srch_label(a: argparse.Namespace) -> str:
    return "" if a.index_type == "FLAT" else f" nprobe {a.nprobe}"


def fmt(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def markdown(env: dict, a: argparse.Namespace, results: list[dict]) -> str:
    R = {r["server"]: r for r in results}
    names = [r["server"] for r in results]
    rows = [
        ("start-up until list_collections (median of %d cold starts), s" % a.startup_trials,
         lambda r: fmt(r["startup_ready_median_s"], 3)
         + " (" + ", ".join(fmt(s["ready_s"], 3) for s in r["startup"]) + ")"),
        ("  of which: until TCP port accepts (median), s", lambda r: fmt(r["startup_port_median_s"], 3)),
        ("idle RSS, process tree, MB", lambda r: fmt(r["idle"]["rss_mb"], 1)),
        ("idle PSS, MB", lambda r: fmt(r["idle"]["pss_mb"], 1)),
        ("processes / threads idle", lambda r: f'{r["idle"]["pids"]} / {r["idle"]["threads"]}'),
        ("listening sockets", lambda r: ", ".join(r["listening"])),
        ("create collection, s", lambda r: fmt(r["create_collection_s"], 3)),
        (f"insert {a.n:,} × {a.dim}-d in batches of {a.batch:,}, s",
         lambda r: fmt(r["insert_s"], 2) + f' ({r["insert_rows_per_s"]:,.0f} rows/s)'),
        ("flush, s", lambda r: fmt(r["flush_s"], 3)),
        (f"create {idx_label(a)} COSINE, s", lambda r: fmt(r["create_index_s"], 2)),
        ("load collection, s", lambda r: fmt(r["load_s"], 2)),
        ("RSS after insert+index+load, MB", lambda r: fmt(r["loaded"]["rss_mb"], 1)),
        ("PSS after insert+index+load, MB", lambda r: fmt(r["loaded"]["pss_mb"], 1)),
        (f"search top-10{srch_label(a)}, p50 ms ({a.queries} queries)",
         lambda r: fmt(r["search"]["p50_ms"], 2)),
        ("search p99 ms", lambda r: fmt(r["search"]["p99_ms"], 2)),
        ("search mean / max ms", lambda r: fmt(r["search"]["mean_ms"], 2) + " / " + fmt(r["search"]["max_ms"], 1)),
        ("recall@10 vs exact cosine", lambda r: fmt(r["search"]["recall_at_10"], 3)),
        ("RSS after searches, MB", lambda r: fmt(r["after_search"]["rss_mb"], 1)),
        ("data on disk, MB", lambda r: fmt(r["data_dir_mb"], 1)),
        ("stop (SIGTERM → exit), s", lambda r: fmt(r["stop1"]["stop_s"], 3) + f' [{r["stop1"]["how"]}, exit {r["stop1"]["exit_code"]}]'),
        ("restart: until list_collections, s", lambda r: fmt(r["restart"]["ready_s"], 3)),
        (f"restart: until count(*) = {a.n:,}, s", lambda r: fmt(r["restart"]["count_ok_s"], 3)),
        ("restart: load state when first ready", lambda r: r["restart"]["load_state_at_ready"]),
        ("restart: load_collection calls before count(*) answered", lambda r: str(r["restart"]["load_calls_before_count"])),
        ("restart: until a search answers (load_collection calls first), s", lambda r: fmt(r["restart"]["searchable_s"], 3) + f' ({r["restart"]["load_calls_before_search"]})'),
        ("restart: same top-10 as before restart", lambda r: str(r["restart"]["same_top10_as_before"])),
        ("RSS after restart + load, MB", lambda r: fmt(r["restart"]["mem"]["rss_mb"], 1)),
        ("final stop", lambda r: fmt(r["stop2"]["stop_s"], 3) + f' s [{r["stop2"]["how"]}, exit {r["stop2"]["exit_code"]}, left running: {r["stop2"]["left_running"] or "none"}]'),
    ]
    out = ["| measurement | " + " | ".join(f"milvus-lite {n}" for n in names) + " |",
           "|---|" + "---|" * len(names)]
    for label, f in rows:
        cells = []
        for n in names:
            try:
                cells.append(f(R[n]))
            except Exception as e:  # noqa: BLE001
                cells.append(f"n/a ({type(e).__name__})")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    table = "\n".join(out)
    idx = "\n".join(f"- {n}: `{json.dumps(R[n]['index_described'])}`" for n in names)
    probe = "\n".join(f"- {n}, {form}: `{json.dumps(v)}`" for n in names
                      for form, v in R[n]["index_form_probe"].items())
    errs = "\n".join(f"- {n} ({k}): {R[n]['restart'][k]}" for n in names
                     for k in ("first_count_error", "first_search_error") if R[n]["restart"][k])
    return f"""# Milvus Lite 2.5.1 vs 3.2.2 — measured results

Generated by `compare.py` (see README.md). All numbers from one run on this machine.

## Environment

- date: {env['date']}
- machine: `nproc` = {env['nproc']}; CPU: {env['cpu']}; kernel {env['kernel']}
- load average at start (1/5/15 min): {' '.join(env['loadavg_start'])}; at end: {' '.join(env['loadavg_end'])}
- client: Python {env['python']} (`{env['client_python']}`)
- venv 2.5.1: {env['packages_25']}
- venv 3.2.2: {env['packages_32']}
- `free -g`:

```
{env['free_g']}
```

## Workload

{a.n:,} random unit vectors ({a.dim}-d float32, seed {a.seed}) with `filepath` and five dynamic
fields per row, inserted in batches of {a.batch:,}, flushed; {idx_label(a)} COSINE index;
{a.warmup} warm-up + {a.queries} timed single-vector top-10 searches{srch_label(a)}
returning `filepath`. RSS/PSS summed over the server's process tree from /proc, read
{a.settle:g} s after each step. Client: pymilvus `MilvusClient` over gRPC on 127.0.0.1.

## Results

{table}

Index as described by the server (after the build, `--index-form {a.index_form}`):
{idx}

How each server records nlist {a.nlist} sent in pymilvus' usual flat form
(`params={{"nlist": {a.nlist}}}`, a separate `nlist` key) vs. one JSON `params` key
(`params={{"params": {{"nlist": {a.nlist}}}}}`), probed on an empty scratch collection:
{probe}
{("First errors after restart (before load_collection):" + chr(10) + errs) if errs else ""}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv25", type=Path, default=Path("/tmp/mlite25"))
    ap.add_argument("--venv32", type=Path, default=Path("/tmp/mlite32"))
    ap.add_argument("--only", choices=["2.5.1", "3.2.2"], action="append")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--nlist", type=int, default=512)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--startup-trials", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before reading memory")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--index-type", choices=["IVF_FLAT", "FLAT"], default="IVF_FLAT",
                    help="FLAT = exact search, to compare against what IVF_FLAT returns")
    ap.add_argument("--index-form", choices=["json", "flat"], default="json",
                    help="how nlist goes on the wire (see index_params); json works on both")
    ap.add_argument("--out", type=Path, help="write the Markdown report here")
    ap.add_argument("--json", type=Path, help="write raw results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    a = ap.parse_args()

    env = environment(a)
    base = Path(tempfile.mkdtemp(prefix="mlite-bench-", dir="/tmp"))
    results = []
    try:
        for name, venv in (("2.5.1", a.venv25), ("3.2.2", a.venv32)):
            if a.only and name not in a.only:
                continue
            print(f"== milvus-lite {name} ({venv})", flush=True)
            r = bench_server(name, venv, a, base)
            print(json.dumps(r, indent=1, default=str), flush=True)
            results.append(r)
    finally:
        _cleanup()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"data kept in {base}")
    env["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    if a.json:
        a.json.write_text(json.dumps({"env": env, "args": {k: str(v) for k, v in vars(a).items()},
                                      "results": results}, indent=1, default=str))
    md = markdown(env, a, results)
    if a.out:
        a.out.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
