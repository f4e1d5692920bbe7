"""Delivery throughput: messages per second to a local SMTP sink (aiosmtpd, in its own process).

Baseline: a bare smtplib loop on one connection (no ledger). Then `send_edition` with the
ledger on SQLite, with 1 and with several connections. Each line shows the sink's own count.

    .venv/bin/python benchmarks/bench_deliver.py [--quick] [--subscribers N] [--connections 1,4,8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from digest.config import SmtpConfig
from digest.deliver import send_edition
from digest.store import open_store
from digest.subscribers import active_subscribers, import_rows

# About the size of a real edition: a 30 KB HTML part and its plain-text alternative.
STORY = "<p>" + "A summary sentence about the day's news in this region. " * 8 + "</p>\n"
HTML = "<html><body>" + STORY * 60 + "</body></html>"
TEXT = "A summary sentence about the day's news in this region.\n" * 120


def run_sink(port: int, count, ready) -> None:  # noqa: ANN001 - multiprocessing primitives
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN202
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def message(email: str, edition: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "World Digest <digest@example.org>"
    msg["To"] = email
    msg["Subject"] = f"World Digest {edition}"
    msg.set_content(TEXT)
    msg.add_alternative(HTML, subtype="html")
    return msg


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers instead of 10,000")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--connections", default="1,4,8")
    args = parser.parse_args()
    n = args.subscribers or (1_000 if args.quick else 10_000)
    connection_counts = [int(c) for c in args.connections.split(",")]

    port = free_port()
    count = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(port, count, ready), daemon=True)
    sink.start()
    if not ready.wait(30):
        sys.exit("the SMTP sink did not start")

    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        import_rows(engine, [(f"reader{i}@example.org", None, None) for i in range(n)])
        readers = active_subscribers(engine)
        print(f"{n} subscribers, messages of {len(bytes(message('x@example.org', 'e')))//1024} KB, "
              f"sink on 127.0.0.1:{port}")

        before = count.value
        started = time.perf_counter()
        conn = smtplib.SMTP("127.0.0.1", port)
        for reader in readers:
            conn.send_message(message(reader.email, "baseline"))
        conn.quit()
        baseline = n / (time.perf_counter() - started)
        print(f"{'bare smtplib, 1 connection, no ledger':44} {baseline:8.0f} msg/s   sink got {count.value - before}")

        for connections in connection_counts:
            edition = f"bench-{connections}"
            smtp = SmtpConfig(host="127.0.0.1", port=port, security="none", password_env=None,
                              connections=connections)
            before = count.value
            report = send_edition(engine, edition, ((r, message(r.email, edition)) for r in readers), smtp)
            label = f"send_edition + ledger, {connections} connection{'s' if connections > 1 else ''}"
            print(f"{label:44} {report.per_second:8.0f} msg/s   sink got {count.value - before}"
                  f"   ({report.per_second / baseline:.2f}x baseline)")
    sink.terminate()


if __name__ == "__main__":
    main()
