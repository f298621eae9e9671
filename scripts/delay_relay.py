#!/usr/bin/env python3
"""A TCP relay that delays every byte by a fixed time each way: a long round trip on loopback.

    delay_relay.py LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT DELAY_SECONDS

Each connection to LISTEN is relayed to TARGET; data read from either side is written to the
other DELAY seconds later, in order (latency only: no bandwidth cap, no loss). Prints READY
once listening. Used by scripts/bench_latency.sh; loopback addresses only.
"""
import asyncio
import sys
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def read_side():
        while True:
            data = await reader.read(256 * 1024)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def write_side():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(read_side(), write_side(), return_exceptions=True)


async def main():
    listen_ip, listen_port, target_ip, target_port, delay = sys.argv[1:6]
    for ip in (listen_ip, target_ip):
        if not ip.startswith("127."):
            sys.exit(f"delay_relay: {ip} is not a loopback address")
    delay = float(delay)

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(target_ip, int(target_port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, listen_ip, int(listen_port))
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
