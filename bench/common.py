"""What every bench script records with its figures: the commit (with `-dirty` when the
tracked tree differs from it), the load average, and a process' resident memory."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commit():
    c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                       text=True).stdout.strip() or "nogit"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return c + ("-dirty" if dirty else "")


def loadavg():
    """The 1, 5 and 15 minute load averages, as one string."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def rss_mb(pid):
    """Resident memory of `pid` in MB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
