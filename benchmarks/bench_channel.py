"""pytribes -> pytribes throughput and ACK latency over loopback.

    .venv/bin/python benchmarks/bench_channel.py            # receiver in a child process
    .venv/bin/python benchmarks/bench_channel.py --inproc   # both nodes in one trio loop
    .venv/bin/python benchmarks/bench_channel.py --profile  # cProfile one in-process run

Throughput: the sender announces N messages with a control message (options 6), sends them
with the given options from 1 or 4 concurrent tasks, and stops the clock when the receiver
answers DONE (options 0, over its own connection to the sender's address) after the N-th one,
so asynchronous (8) sends are timed until delivery, not until queueing.  Each throughput row
is the median of 3 runs.
Latency: sequential sends of 100 B with options 2 (ack on read) and 6 (ack after processing),
p50/p99 of the time `Channel.send` takes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tribes.net.channel import Channel
from tribes.wire import ChannelData, Member

SENDER_HOST = "127.0.0.11"
RECEIVER_HOST = "127.0.0.12"
SIZES = [100, 1024, 10 * 1024, 100 * 1024]


def member(host: str, n: int) -> Member:
    return Member.at(host, 0, unique_id=bytes(15) + bytes([n]), alive=1000)


class Counter:
    """Receiver side: counts data messages, answers DONE after the announced number."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.expect = -1
        self.count = 0

    async def __call__(self, cd: ChannelData) -> None:
        msg = cd.message
        if msg.startswith(b"CTRL expect "):
            self.expect = int(msg[12:])
            self.count = 0
            return
        self.count += 1
        if self.count == self.expect:
            await self.channel.send([cd.member], b"DONE", 0, byte_message=True)


async def serve(port_out: trio.MemorySendChannel[int] | None = None) -> None:
    channel = Channel(member(RECEIVER_HOST, 2), max_package=16 << 20)
    channel.add_listener(Counter(channel))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(channel.run)
        if port_out is None:
            print(port, flush=True)
        else:
            await port_out.send(port)


class Bench:
    def __init__(self, target: Member) -> None:
        self.target = target
        self.channel = Channel(member(SENDER_HOST, 1), max_package=16 << 20)
        self.done = trio.Event()

        async def on_done(cd: ChannelData) -> None:
            if cd.message == b"DONE":
                self.done.set()

        self.channel.add_listener(on_done)

    async def throughput(self, size: int, options: int, concurrency: int) -> tuple[float, int]:
        n = max(400, min(20000, (256 << 20) // size))
        n -= n % concurrency
        payload = bytes(size)
        self.done = trio.Event()
        ch, target = self.channel, [self.target]
        await ch.send(target, b"CTRL expect %d" % n, 6, byte_message=True)

        async def worker(count: int) -> None:
            for _ in range(count):
                result = await ch.send(target, payload, options, byte_message=True)
                assert result.success, result.faulty

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker, n // concurrency)
        with trio.fail_after(120):
            await self.done.wait()
        return n / (time.perf_counter() - t0), n

    async def latency(self, options: int, count: int = 5000) -> tuple[float, float]:
        ch, target = self.channel, [self.target]
        payload = bytes(100)
        samples = []
        for _ in range(count):
            t0 = time.perf_counter()
            await ch.send(target, payload, options, byte_message=True)
            samples.append(time.perf_counter() - t0)
        samples.sort()
        return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6


async def run_all(target_port: int | None, quick: bool, repeat: int = 3) -> None:
    async with trio.open_nursery() as nursery:
        if target_port is None:
            send_port, recv_port = trio.open_memory_channel[int](1)
            nursery.start_soon(serve, send_port)
            target_port = await recv_port.receive()
        bench = Bench(Member.at(RECEIVER_HOST, target_port, bytes(15) + b"\x02"))
        await nursery.start(bench.channel.run)
        sizes = SIZES[:2] if quick else SIZES
        if not quick:
            print(f"throughput: median of {repeat} runs")
        print(f"{'payload':>8} {'opts':>4} {'senders':>7} {'msgs':>6} {'msg/s':>9} {'MB/s':>8}")
        for size in sizes:
            for options in (6, 8):
                for concurrency in (1, 4):
                    runs = [
                        await bench.throughput(size, options, concurrency)
                        for _ in range(1 if quick else repeat)
                    ]
                    rate, n = sorted(runs)[len(runs) // 2]  # the median run
                    print(
                        f"{size:>8} {options:>4} {concurrency:>7} {n:>6} {rate:>9.0f} "
                        f"{rate * size / 1e6:>8.1f}",
                        flush=True,
                    )
        print()
        print(f"{'ack round trip (100 B)':<24} {'p50 us':>8} {'p99 us':>8}")
        for options in (2, 6):
            p50, p99 = await bench.latency(options, 1000 if quick else 5000)
            print(f"{'options ' + str(options):<24} {p50:>8.0f} {p99:>8.0f}", flush=True)
        await bench.channel.aclose()
        nursery.cancel_scope.cancel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--serve", action="store_true", help="run the receiver node (child process)")
    ap.add_argument("--inproc", action="store_true", help="both nodes in one process")
    ap.add_argument("--profile", action="store_true", help="cProfile an in-process quick run")
    args = ap.parse_args()
    if args.serve:
        trio.run(serve)
        return
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        trio.run(run_all, None, True)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    if args.inproc:
        print("both nodes in one process (one CPU for sender and receiver)")
        trio.run(run_all, None, False)
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        print(f"receiver in child process pid {child.pid} on {RECEIVER_HOST}:{port}")
        trio.run(run_all, port, False)
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    main()
