"""Start the Milvus Lite 2.5.1 server binary on a database file, as shihua does
(`LD_LIBRARY_PATH=<lib> <lib>/milvus <abs db> 127.0.0.1:PORT ERROR`), for the bench scripts
that talk to Milvus with pymilvus over gRPC, like the reference article
(`MilvusClient(uri="http://localhost:19530")`)."""
import os
import socket
import subprocess
import time


def lib_dir():
    # Located without importing milvus_lite (its __init__ needs pkg_resources, which the
    # setuptools pinned for torch no longer has).
    import importlib.util
    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("milvus-lite is not installed in this venv (bench/setup.sh)")
    return os.path.join(list(spec.submodule_search_locations)[0], "lib")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lite:
    def __init__(self, db):
        self.db = os.path.abspath(db)
        self.port = free_port()
        lib = lib_dir()
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        self.proc = subprocess.Popen([os.path.join(lib, "milvus"), self.db,
                                      f"127.0.0.1:{self.port}", "ERROR"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.uri = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"Milvus Lite exited with {self.proc.returncode} on {db}")
                time.sleep(0.1)
        raise SystemExit("Milvus Lite did not start in 60 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
