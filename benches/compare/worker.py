"""The worker side of the protocol driver.py speaks to every peer (see driver.py).

A worker reads commands on stdin, one a line, and answers each with one JSON line:
`prepare TASK N [PEER]` (inputs read, untimed), `rep TASK` (one timed run: seconds and CPU
seconds), `finish TASK` (the heap peak over one more, untimed run, then the task's entry:
parameters, outputs written for report.py), `quit`. Several tasks may be prepared at once
(two sides of a row can share a worker). The answers go to the original
stdout; everything else printed, by the libraries too, goes to stderr.

Memory: peak_bytes, the peak of tracemalloc's traced heap (Python objects and numpy and
pandas buffers, which numpy reports to tracemalloc; not memory that compiled extensions
allocate themselves) over the extra run.
"""

import gc
import json
import os
import sys
import time
import tracemalloc


def serve(prepare, hello):
    """Answer the driver until `quit`. prepare(task, n, peer) returns (run, entry): run()
    is the timed call, entry(result) the task's description of the last result."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def answer(obj):
        answers.write(json.dumps(obj, default=float) + "\n")
        answers.flush()

    answer(dict(ready=True, **hello))
    jobs = {}  # task -> [n, run, entry, last result]
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "prepare":
            task, n = words[1], int(words[2])
            peer = words[3] if len(words) > 3 else None
            jobs[task] = [n, *prepare(task, n, peer), None]
            answer(dict(ok=True))
        elif words[0] == "rep":
            job = jobs[words[1]]
            job[3] = None  # the previous result is freed outside the timing
            gc.collect()
            c, t = time.process_time(), time.perf_counter()
            out = job[1]()
            s = time.perf_counter() - t
            cpu = time.process_time() - c
            job[3] = out
            answer(dict(seconds=s, cpu_seconds=cpu))
        elif words[0] == "finish":
            task = words[1]
            n, run, entry, last = jobs.pop(task)
            if last is None:
                last = run()
            gc.collect()
            tracemalloc.start()
            try:
                run()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            answer(dict(task=task, n=n, peak_bytes=peak, **entry(last)))
        else:
            raise SystemExit(f"worker: unknown command {line!r}")


def write_params(path, params):
    """PEER_params_N.txt, which the custval worker reads: `key value` lines."""
    with open(path, "w") as fh:
        for k, v in params.items():
            fh.write(f"{k} {v!r}\n")
