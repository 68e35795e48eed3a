"""Runs every side of benches/compare on the same inputs, interleaved, and writes the raw
timings to DIR/compare-runs.json (report.py turns them into tables).

    driver.py DIR --exe COMPARE --lifetimes-python PY [--pymc-python PY] [--bin DIR]
              [--sizes N,..] [--tx ROWS,..] [--only GROUPS] [--reps R]

Sides are long-lived worker processes answering one command a line (see worker.py and
benches/examples/compare.rs): lifetimes + scikit-learn (lifetimes_side.py), custval on one
thread (`compare serve --threads 1`: one CPU, so parallelism is not counted as speed) and
on two (`--threads 2`), PyMC-Marketing (pymc_side.py), and the end-to-end side in this
file: the release `custval fit` CLI against a release `custval-server`.

For each row (a task at one size) every side prepares its inputs untimed, then R rounds
run each side once in turn (peer, custval 1 thread, custval 2 threads), so every side gets
the same number of timed runs under the same load; /proc/loadavg is read before each
run and kept with it. Then each side measures its heap peak over one more untimed run and
describes its result (parameters, outputs for the agreement checks).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GROUPS = ("fit", "score", "kmeans", "summarize", "e2e", "pymc")


def loadavg():
    with open("/proc/loadavg") as fh:
        return [float(v) for v in fh.read().split()[:3]]


class Worker:
    """A worker process: one command a line in, one JSON line out."""

    def __init__(self, name, argv):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.hello = self.ask(None)

    def ask(self, command):
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"driver: the {self.name} worker stopped "
                             f"(exit {self.proc.wait()}); its messages are above")
        return json.loads(line)

    def prepare(self, task, n, peer):
        self.ask(f"prepare {task} {n}" + (f" {peer}" if peer else ""))

    def rep(self, task):
        return self.ask(f"rep {task}")

    def finish(self, task):
        return self.ask(f"finish {task}")

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait()


def proc_cpu_seconds(pid):
    """utime + stime of a process, every thread included (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_bytes(pid, key):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


class EndToEnd:
    """`custval fit` (release CLI) from the summary CSV against a release custval-server
    with a fresh data directory, started for the row. A run's `seconds` is the CLI's wall
    time (process start to exit: parsing, streaming, the fit, storing, the answer);
    `cpu_seconds` is the server's CPU time for it (/proc/PID/stat before and after, the
    after read once the server is idle again, so work done after answering counts)."""

    name = "custval_cli"

    def __init__(self, bindir, data_dir, scratch):
        self.bin, self.dir, self.scratch = bindir, data_dir, scratch
        self.server = None
        self.hello = dict(server=os.path.join(bindir, "custval-server"),
                          cli=os.path.join(bindir, "custval"))

    def cli(self, *args, capture=False):
        return subprocess.run([os.path.join(self.bin, "custval"), "--server", self.url,
                               "--retries", "0", *args], check=not capture,
                              stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL if capture else None)

    def prepare(self, task, n, _peer):
        assert task == "e2e_fit"
        self.stop()
        self.n, self.store = n, tempfile.mkdtemp(prefix="e2e-store-", dir=self.scratch)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(self.scratch, "e2e-server.log"), "a")
        self.server = subprocess.Popen(
            [os.path.join(self.bin, "custval-server"), "--listen", f"127.0.0.1:{port}",
             "--data-dir", self.store, "--metrics-listen", "off"],
            stdout=self.log, stderr=self.log)
        for _ in range(200):
            if self.cli("health", capture=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"driver: custval-server did not come up (log: {self.log.name})")
        self.runs, self.last, self.cli_peak = 0, None, 0

    def idle_cpu(self):
        """The server's CPU seconds once they stop growing (0.1 s apart, 5 s at most)."""
        prev = proc_cpu_seconds(self.server.pid)
        for _ in range(50):
            time.sleep(0.1)
            now = proc_cpu_seconds(self.server.pid)
            if now == prev:
                return now
            prev = now
        return prev

    def rep(self, _task):
        self.runs += 1
        cpu0 = self.idle_cpu()
        argv = [os.path.join(self.bin, "custval"), "--server", self.url, "--retries", "0",
                "fit", "--input", os.path.join(self.dir, f"customers_{self.n}.csv"),
                "--family", "bgnbd", "--spend", "gamma-gamma",
                "--name", f"e2e-{self.n}-{self.runs}", "--json"]
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise SystemExit(f"driver: `{' '.join(argv)}` failed with {p.returncode}")
        server_cpu = self.idle_cpu() - cpu0
        self.last = json.loads(out)
        self.cli_peak = max(self.cli_peak, usage.ru_maxrss * 1024)
        return dict(seconds=seconds, cpu_seconds=server_cpu,
                    cli_cpu_seconds=usage.ru_utime + usage.ru_stime)

    def finish(self, _task):
        m = self.last or {}
        e = dict(task="e2e_fit", n=self.n, **(m.get("params") or {}),
                 **(m.get("spend_params") or {}),
                 cli_reported_seconds=m.get("seconds"),
                 server_peak_rss_bytes=proc_status_bytes(self.server.pid, "VmHWM"),
                 server_rss_after_bytes=proc_status_bytes(self.server.pid, "VmRSS"),
                 cli_peak_rss_bytes=self.cli_peak)
        self.stop()
        return e

    def stop(self):
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None
            self.log.close()
            shutil.rmtree(self.store, ignore_errors=True)

    def close(self):
        self.stop()


def plan(only, sizes, txs):
    """Rows: (task, n, [(side, worker, worker's task, peer)]) in running order."""
    c = lambda task, peer=None: [("custval_1t", "custval_1t", task, peer),  # noqa: E731
                                 ("custval_2t", "custval_2t", task, peer)]
    rows = []
    for n in sizes:
        if "fit" in only:
            for task in ("fit_bgnbd", "fit_bgnbd_day", "fit_gamma_gamma"):
                rows.append((task, n, [("lifetimes", "lifetimes", task, None)]
                             + c(task, "lifetimes")))
            # lifetimes' fair form of the day-resolution fit: grouped rows and weights.
            rows.append(("fit_bgnbd_day_weighted", n,
                         [("lifetimes", "lifetimes", "fit_bgnbd_day_weighted", None)]
                         + c("fit_bgnbd_day", "lifetimes")))
        if "score" in only:
            rows.append(("score", n, [("lifetimes", "lifetimes", "score", None)]
                         + c("score", "lifetimes")))
        if "pymc" in only:
            for task in ("fit_bgnbd", "fit_gamma_gamma", "score"):
                rows.append((f"pymc_{task}", n, [("pymc", "pymc", task, None)]
                             + c(task, "pymc")))
        if "kmeans" in only:
            rows.append(("kmeans", n, [("sklearn", "lifetimes", "kmeans", None),
                                       ("sklearn_1t", "lifetimes", "kmeans_1thread", None)]
                         + c("kmeans")))
            rows.append(("segment", n, c("segment")))
        if "e2e" in only:
            rows.append(("e2e_fit", n, [("lifetimes", "lifetimes", "e2e_fit", None),
                                        ("custval_cli", "custval_cli", "e2e_fit", None)]
                         + c("fit_bgnbd_gg")))
    if "summarize" in only:
        for rows_n in txs:
            rows.append(("summarize_csv", rows_n, [("lifetimes", "lifetimes", "summarize_csv",
                                                    None)] + c("summarize_csv")))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--exe", required=True, help="the built compare example")
    ap.add_argument("--lifetimes-python", required=True)
    ap.add_argument("--pymc-python")
    ap.add_argument("--bin", help="directory of the release custval and custval-server")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--tx", default="1000000,10000000")
    ap.add_argument("--only", default=",".join(GROUPS))
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    only = [g for g in a.only.split(",") if g]
    if bad := set(only) - set(GROUPS):
        raise SystemExit(f"driver: unknown --only group(s) {sorted(bad)}; known: {GROUPS}")
    sizes = [int(s) for s in a.sizes.split(",") if s]
    txs = [int(s) for s in a.tx.split(",") if s]
    rows = plan(only, sizes, txs)
    needed = {w for _, _, sides in rows for _, w, _, _ in sides}

    workers = {}
    try:
        if "lifetimes" in needed:
            workers["lifetimes"] = Worker("lifetimes", [
                a.lifetimes_python, os.path.join(HERE, "lifetimes_side.py"), a.dir])
        for t in (1, 2):
            if f"custval_{t}t" in needed:
                workers[f"custval_{t}t"] = Worker(
                    f"custval_{t}t", [a.exe, "serve", a.dir, "--threads", str(t)])
        if "pymc" in needed:
            if not a.pymc_python:
                raise SystemExit("driver: the pymc group needs --pymc-python")
            workers["pymc"] = Worker("pymc", [
                a.pymc_python, os.path.join(HERE, "pymc_side.py"), a.dir])
        if "custval_cli" in needed:
            if not a.bin:
                raise SystemExit("driver: the e2e group needs --bin")
            workers["custval_cli"] = EndToEnd(a.bin, os.path.abspath(a.dir),
                                              os.path.abspath(a.dir))

        started = time.time()
        done = []
        for task, n, sides in rows:
            print(f"== {task} {n:,}: {', '.join(s for s, *_ in sides)}, {a.reps} rounds",
                  file=sys.stderr, flush=True)
            for _, w, wtask, peer in sides:
                workers[w].prepare(wtask, n, peer)
            reps = {s: [] for s, *_ in sides}
            for _ in range(a.reps):
                for side, w, wtask, _ in sides:
                    load = loadavg()
                    r = workers[w].rep(wtask)
                    r["load"] = load
                    reps[side].append(r)
            out = []
            for side, w, wtask, peer in sides:
                entry = workers[w].finish(wtask)
                out.append(dict(side=side, worker=w, task=wtask, peer=peer, reps=reps[side],
                                entry=entry))
                best = min(r["seconds"] for r in reps[side])
                print(f"   {side:<12} min {best:.4f} s", file=sys.stderr, flush=True)
            done.append(dict(task=task, n=n, sides=out))
        result = dict(
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            wall_seconds=time.time() - started, reps=a.reps, only=only,
            host=dict(cpus=os.cpu_count(), machine=platform.machine(),
                      kernel=platform.release()),
            workers={k: w.hello for k, w in workers.items()},
            rows=done)
        with open(os.path.join(a.dir, "compare-runs.json"), "w") as fh:
            json.dump(result, fh, indent=1)
    finally:
        for w in workers.values():
            w.close()


if __name__ == "__main__":
    main()
