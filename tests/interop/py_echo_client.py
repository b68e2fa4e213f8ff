"""A `websockets` echo client with permessage-deflate, for the client cases
of tests/conformance/ (Autobahn's protocol: /getCaseCount, then
/runCase?case=1..N, echoing every message of each).

Usage: py_echo_client.py PORT
"""
import sys

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect


def main(port: int) -> None:
    base = f"ws://127.0.0.1:{port}"
    with connect(f"{base}/getCaseCount") as ws:
        count = int(ws.recv())
    for i in range(1, count + 1):
        try:
            with connect(f"{base}/runCase?case={i}", max_size=64 << 20, compression="deflate") as ws:
                for message in ws:
                    ws.send(message)
        except (WebSocketException, OSError):
            pass  # the harness judges what went wrong


if __name__ == "__main__":
    main(int(sys.argv[1]))
