"""A controller for tests/test_signals.py: builds a HostKernel with cpusets, files, pins
and helpers, then runs conformance cases on the host backend, printing its phases.

    python tests/signal_controller.py ROUNDS

Signals arrive at random moments from the test; whatever it was doing, nothing of this
process may be left afterwards."""

from __future__ import annotations

import sys

print("started", flush=True)  # before this, Python itself starts up (a ^C then is its own)


def main(rounds: int) -> int:
    from conformance.backends import HostBackend
    from conformance.registry import all_cases
    from conformance.runner import run_case
    from realnuma.host import HostKernel

    print("imported", flush=True)
    cases = all_cases()
    backend = HostBackend()
    for n in range(rounds):
        with HostKernel() as k:
            mems = k.memory_node_ids()[:1]
            p = k.spawn(cpuset_mems=mems if "cpuset" in k.features else None)
            f = k.create_file(4 * k.page_size, name=f"round{n}")
            k.write_file(f, 0, b"x" * k.page_size)
            a = p.mmap(4 * k.page_size, file=f, shared=True)
            p.touch(a, 4 * k.page_size)
            k.pin(p, a)
            child = p.fork()
            user = k.spawn(uid=1000)
            b = user.mmap(k.page_size)
            user.touch(b, k.page_size)
            if "cpuset" in k.features:
                child.set_cpuset(mems)
            print("built", n, flush=True)
            for case in cases[n * 7 % len(cases) :][:7]:
                run_case(case, backend)
            print("ran", n, flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
    except KeyboardInterrupt:  # ^C: what a command-line tool does, without a traceback
        sys.exit(130)
