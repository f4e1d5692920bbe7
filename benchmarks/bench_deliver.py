"""Delivery throughput: messages per second to a local SMTP sink (in its own processes).

Baseline: a bare smtplib loop on one connection, no ledger, sending the same messages. Then
`send_edition` with the ledger on SQLite at each connection count, first claiming and recording
one message per store transaction (`smtp.batch = 1`, the default, which keeps the messages in
doubt after a crash to the one in transaction), then in batches (`--batch`, 16 by default, the
setting for large lists), with its ratio to the line before. Every line shows the sink's own
count of accepted messages and the CPU time per message on each side, so it is clear which
side limits the rate.

The sink: `fast` (default) is a minimal asyncio SMTP server that offers PIPELINING and reads
DATA in bulk up to the end marker, so that it costs far less than the client and the client
is what is measured; `aiosmtpd` is stock aiosmtpd (it reads DATA line by line in Python, about
1-2 ms of CPU per 35 KB message: on 2 cores it, not the client, sets the rate).

The messages are real editions: `digest.message.build_mime` on an edition of Wikinews stories
(synthetic stories when ../shared is absent), built lazily as they are sent, in every run.

    .venv/bin/python benchmarks/bench_deliver.py [--quick] [--subscribers N] [--connections 1,4,8]
                                                 [--batch N] [--sinks N] [--sink fast|aiosmtpd]
                                                 [--stories N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import smtplib
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_render import make_edition  # noqa: E402 - the same edition content as the render benchmark

from digest.config import Config, SmtpConfig  # noqa: E402
from digest.credentials import Secrets  # noqa: E402
from digest.deliver import send_edition  # noqa: E402
from digest.message import build_mime  # noqa: E402
from digest.models import Subscriber  # noqa: E402
from digest.store import open_store  # noqa: E402
from digest.subscribers import active_subscribers, import_rows  # noqa: E402

SECRETS = Secrets(signing_key="bench-signing-key")  # signs the links in every message


def run_sink(port: int, count, ready, pipelining: bool) -> None:  # noqa: ANN001 - multiprocessing primitives
    """One aiosmtpd server process. Several share the port (SO_REUSEPORT) and the count.

    aiosmtpd's SMTP protocol on the process's main event loop, without the Controller's extra
    thread; the handler only counts what it accepts. aiosmtpd reads pipelined commands in
    order but does not offer PIPELINING itself: the handler adds it when asked.
    """
    from aiosmtpd.smtp import SMTP

    class Sink:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001, ANN202
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]] if pipelining else responses

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN202
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            return "250 OK"

    loop = asyncio.new_event_loop()
    handler = Sink()
    loop.run_until_complete(loop.create_server(lambda: SMTP(handler, loop=loop), "127.0.0.1", port,
                                               reuse_port=True))
    ready.set()
    loop.run_forever()


class FastSink(asyncio.Protocol):
    """Just enough SMTP for a client that pipelines: every command is answered 250 (EHLO with
    PIPELINING), DATA with 354, and the message is taken whole at its end marker."""

    def __init__(self, count) -> None:  # noqa: ANN001 - a multiprocessing.Value
        self.count = count
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer, self.in_data = self.buffer[end + 5:], False
                with self.count.get_lock():
                    self.count.value += 1
                replies.append(b"250 OK queued\r\n")
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                break
            self.buffer = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(replies) + b"221 bye\r\n")
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def run_fast_sink(port: int, count, ready, pipelining: bool) -> None:  # noqa: ANN001, ARG001
    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_server(lambda: FastSink(count), "127.0.0.1", port, reuse_port=True))
    ready.set()
    loop.run_forever()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sinks:
    def __init__(self, processes: int, pipelining: bool, kind: str = "fast") -> None:
        self.port = free_port()
        target = run_fast_sink if kind == "fast" else run_sink
        self.count = multiprocessing.Value("i", 0)
        self.processes = []
        for _ in range(processes):
            ready = multiprocessing.Event()
            process = multiprocessing.Process(target=target, args=(self.port, self.count, ready, pipelining),
                                              daemon=True)
            process.start()
            if not ready.wait(30):
                sys.exit("the SMTP sink did not start")
            self.processes.append(process)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()


def measure(label: str, n: int, sinks: Sinks, send: Callable[[], None], baseline: float | None) -> float:
    before, sink_cpu, client_cpu = sinks.count.value, sinks.cpu(), time.process_time()
    started = time.perf_counter()
    send()
    seconds = time.perf_counter() - started
    rate = n / seconds
    client_us = (time.process_time() - client_cpu) / n * 1e6
    sink_us = (sinks.cpu() - sink_cpu) / n * 1e6
    ratio = f"{rate / baseline:5.2f}x" if baseline else "   1x"
    print(f"{label:52} {rate:6.0f} msg/s {ratio}   sink got {sinks.count.value - before:>6}   "
          f"CPU per message: client {client_us:4.0f} µs, sink {sink_us:4.0f} µs", flush=True)
    return rate


def bare_loop(port: int, sender: str, messages: Iterable[tuple[Subscriber, bytes]]) -> None:
    conn = smtplib.SMTP("127.0.0.1", port)
    for subscriber, raw in messages:
        conn.sendmail(sender, [subscriber.email], raw)
    conn.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers instead of 10,000")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--connections", default="1,4,8", help="connection counts for send_edition")
    parser.add_argument("--batch", type=int, default=16,
                        help="messages claimed and recorded together, against batch 1 (default 16)")
    parser.add_argument("--sinks", type=int, default=os.cpu_count() or 1,
                        help="sink processes sharing the port (default: one per core)")
    parser.add_argument("--sink", choices=("fast", "aiosmtpd"), default="fast")
    parser.add_argument("--stories", type=int, default=9, help="stories in the edition (9: about 34 KB)")
    args = parser.parse_args()
    n = args.subscribers or (1_000 if args.quick else 10_000)
    connection_counts = [int(c) for c in args.connections.split(",")]

    load = os.getloadavg()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    sinks = Sinks(args.sinks, pipelining=True, kind=args.sink)
    config = Config()
    edition, origin = make_edition(args.stories)
    sender = "digest@example.org"

    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        import_rows(engine, [(f"reader{i}@example.org", None, None) for i in range(n)])
        readers = active_subscribers(engine)
        size = len(next(build_mime(edition, "size", readers[:1], config, SECRETS))[1])
        print(f"{n:,} subscribers, messages of {size / 1024:.0f} KB ({args.stories} stories, {origin}), "
              f"{args.sinks} {args.sink} sink process{'es' if args.sinks > 1 else ''} on 127.0.0.1:{sinks.port}")

        def edition_id(run: str) -> str:
            return f"{date(2019, 1, 4)}-{run}"

        baseline = measure("bare smtplib loop, 1 connection, no ledger", n, sinks,
                           lambda: bare_loop(sinks.port, sender, build_mime(edition, edition_id("bare"), readers, config, SECRETS)),
                           None)

        def smtp(connections: int, batch: int) -> SmtpConfig:
            return SmtpConfig(host="127.0.0.1", port=sinks.port, security="none", password_env=None,
                              connections=connections, batch=batch)

        def plural(connections: int) -> str:
            return f"{connections} connection{'s' if connections > 1 else ''}"

        for connections in connection_counts:
            run = edition_id(f"one-{connections}")
            one = measure(f"send_edition + ledger, {plural(connections)}, batch 1", n, sinks,
                          lambda: send_edition(engine, run, build_mime(edition, run, readers, config, SECRETS),
                                               smtp(connections, 1)),
                          baseline)
            run = edition_id(f"batch-{connections}")
            measure(f"  same, batch {args.batch} (ratio: x the line above)", n, sinks,
                    lambda: send_edition(engine, run, build_mime(edition, run, readers, config, SECRETS),
                                         smtp(connections, args.batch)),
                    one)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    sinks.stop()


if __name__ == "__main__":
    main()
