"""Our clocks and the mock's truth log against packet timestamps on loopback (needs root and
tcpdump): an independent truth for which side is off.

Runs the mock (TTFT 200 ms, ITL 10 ms, 64 tokens, truth log), captures its port on `lo` with
`tcpdump --time-stamp-precision=nano`, and runs the command line with default flags:

    llmbench-async --base-url MOCK --model mock-model -n 4C -c C --max-tokens 64 -q -o R

Per request, from the capture: when the request's last segment went out, the response head's
segment, and the segment that ended the response (`0\\r\\n\\r\\n`). Packet instants are
CLOCK_REALTIME; they are moved to CLOCK_MONOTONIC by the offset of the two clocks read
together (the least of 50 readings). Printed, in ms, p50 / p99 / max over all requests:

* E2E vs wire: (our end − our send) − (end segment − request segment);
* end vs wire: our end − the end segment (our lateness in stamping the final bytes);
* head vs wire: our head instant − the head segment;
* first token vs wire: our first-token instant − the first token's segment (the one after
  the head's: the mock writes the head with the opening event, before any token is due);
* send vs wire: the request segment − our send instant;
* mock end vs wire: the end segment − the mock's last-token instant (is the mock's truth late?);
* mock arrival vs wire: the mock's kernel arrival of the request − the request segment.

    sudo uv run python benchmarks/wire_truth.py --concurrency 128
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from accuracy import TOKENS, _lines, _stats

from llmbench_async import MockConfig, MockProcess

_ID = re.compile(rb'"id":\s*"([^"]+)"')
_END = b"0\r\n\r\n"


def realtime_offset_ns() -> int:
    """CLOCK_REALTIME − CLOCK_MONOTONIC (ns), from the tightest of 50 paired readings."""
    best: tuple[int, int] | None = None
    for _ in range(50):
        a = time.perf_counter_ns()
        r = time.time_ns()
        b = time.perf_counter_ns()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) // 2)
    assert best is not None
    return best[1]


def packets(path: Path) -> list[tuple[int, int, int, bytes]]:
    """(realtime ns, source port, destination port, TCP payload) of each data segment."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    if magic != 0xA1B23C4D:
        raise SystemExit("expected a nanosecond pcap file")
    skip = {1: 14, 113: 16, 276: 20}[link]  # Ethernet, Linux cooked v1, v2
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, nsec, incl, _ = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ip = frame[skip:]
        if not ip or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[ihl:total]
        sport, dport = struct.unpack_from("!HH", tcp)
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            out.append((sec * 1_000_000_000 + nsec, sport, dport, payload))
    return out


def wire_instants(pkts: list[tuple[int, int, int, bytes]], port: int) -> dict[str, dict[str, int]]:
    """Per response id: the request's last segment, the head's and the end's (realtime ns)."""
    conns: dict[int, dict[str, Any]] = {}
    out: dict[str, dict[str, int]] = {}
    for ts, sport, dport, payload in pkts:
        client = dport if sport == port else sport
        c = conns.setdefault(client, {"request": None, "head": None, "ids": set()})
        if dport == port:  # client -> server: (a segment of) the next request
            c["request"], c["head"], c["first"] = ts, None, None
            continue
        if c["head"] is None:
            c["head"] = ts  # the head and the opening event, written together
        elif c["first"] is None:
            c["first"] = ts  # the first token's segment
        c["ids"].update(_ID.findall(payload))
        if payload.endswith(_END):
            for rid in c["ids"]:
                out[rid.decode()] = {k: c[k] for k in ("request", "head", "first")}
                out[rid.decode()]["end"] = ts
            c["ids"] = set()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args()
    c = args.concurrency
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        log, cap, res = tmp / "truth.jsonl", tmp / "lo.pcap", tmp / "r.jsonl"
        cfg = MockConfig(ttft_ms=200.0, itl_ms=10.0, tokens=TOKENS, log_path=str(log))
        with MockProcess(cfg) as mock:
            port = int(mock.base_url.rsplit(":", 1)[1].split("/")[0])
            capture = ["tcpdump", "-i", "lo", "-w", str(cap), "-s", "0", "-B", "262144"]
            capture += ["--time-stamp-precision=nano", "-U", f"tcp port {port}"]
            dump = subprocess.Popen(capture, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            offset = realtime_offset_ns()
            argv = [sys.executable, "-m", "llmbench_async", "--base-url", mock.base_url]
            argv += ["--model", "mock-model", "-n", str(4 * c), "-c", str(c), "--max-tokens"]
            argv += [str(TOKENS), "-q", "-o", str(res)]
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
            time.sleep(0.5)
            dump.terminate()
            dump.wait(10)
        truth = {t["id"]: t for t in _lines(log) if t.get("status") == 200}
        wire = wire_instants(packets(cap), port)
        lines = _lines(res)
    report(c, lines, truth, wire, offset)


def report(c: int, lines: list[Any], truth: dict[str, Any], wire: Any, offset: int) -> None:
    t0 = lines[0]["t0_monotonic_ns"]
    rows: dict[str, list[float]] = {}
    for r in (x for x in lines if x["type"] == "request" and not x.get("error_kind")):
        w, t = wire.get(r.get("response_id")), truth.get(r.get("response_id"))
        if w is None or t is None or w["request"] is None:
            continue
        req, head, first, end = (w[k] - offset for k in ("request", "head", "first", "end"))
        send, ours_end, ours_head = t0 + r["send_ns"], t0 + r["end_ns"], t0 + r["headers_ns"]
        mono = t["monotonic"]
        values = {
            "E2E vs wire": (ours_end - send) - (end - req),
            "end vs wire": ours_end - end,
            "head vs wire": ours_head - head,
            "first token vs wire": t0 + r["first_token_ns"] - first,
            "send vs wire": req - send,
            "mock end vs wire": end - mono["last_token"] * 1e9,
        }
        if mono.get("arrived") is not None:
            values["mock arrival vs wire"] = mono["arrived"] * 1e9 - req
        for k, v in values.items():
            rows.setdefault(k, []).append(v / 1e6)
    load = os.getloadavg()[0]
    print(f"C={c}, load average {load:.2f}, {len(rows.get('end vs wire', []))} requests matched")
    print("| C | clock | p50 / p99 / max ms |\n|---|---|---|")
    for k, v in rows.items():
        print(f"| {c} | {k} | {' / '.join(f'{x:.2f}' for x in _stats(v))} |")


if __name__ == "__main__":
    main()
