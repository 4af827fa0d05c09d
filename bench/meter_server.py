"""The server under test: a lab.ini's meters in one process, built by the
twistd plugin's own ``dlmstw.tap.Options`` and ``makeService`` exactly as
``twistd -n dlmssim -c lab.ini`` builds them, on the epoll reactor, without
twistd's log plumbing.

Prints ``READY <pid> <meters>`` once every meter listens, then serves until
SIGTERM or ``--max-seconds`` (a safety net if the benchmark that started it
dies). Run by the benchmarks; by hand:

    python bench/meter_server.py lab.ini [--profile meter.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import resource
import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402  (after the reactor choice)

import harness  # noqa: E402  (puts the checkout on sys.path)
from dlmstw import tap  # noqa: E402
from dlmstw.config import load_lab  # noqa: E402


def raise_open_files_limit(needed: int) -> None:
    """Lift the soft RLIMIT_NOFILE towards the hard limit when ``needed`` descriptors exceed it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="lab.ini")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="stop by itself after this long (default 900)")
    parser.add_argument("--profile", metavar="FILE", help="run under cProfile and write its stats to FILE at exit")
    args = parser.parse_args(argv)
    meters = sum(group.count for group in load_lab(args.config).groups)
    raise_open_files_limit(meters + 256)
    options = tap.Options()
    options.parseOptions(["--config", args.config])
    service = tap.makeService(options)
    service.privilegedStartService()
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.callLater(args.max_seconds, reactor.stop)

    def ready() -> None:
        gc.collect()
        print(f"{harness.READY} {os.getpid()} {meters}", flush=True)

    reactor.callWhenRunning(ready)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(reactor.run)
        profiler.dump_stats(args.profile)
    else:
        reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
