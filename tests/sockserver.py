"""The one raw-socket test server: a loopback listener whose accept loop hands each
connection to a behaviour, a plain function run in its own thread. The hostile servers
(`hostile.py`, `rawserver.py`), the scripted timing server (`scripted_server.py`) and the
proxy of `test_route.py` are behaviours on it, so each writes exactly the bytes
its test needs and none of them owns an accept loop.

It runs in a thread of the test process, so the instants a behaviour takes are on the
client's clock (`time.perf_counter_ns`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

# (connection, its 1-based number in accept order) → None; the server closes the socket after
Behaviour = Callable[[socket.socket, int], None]
_ACCEPT_POLL_S = 0.05  # how soon a closed server's accept loop notices


class SocketServer:
    """`with SocketServer(behaviour) as server:` serves on `server.port` (127.0.0.1) until
    the block ends; `server.connections` counts the connections accepted so far."""

    def __init__(
        self, behaviour: Behaviour, *, timeout_s: float = 30.0, backlog: int = 128
    ) -> None:
        self.behaviour = behaviour
        self.timeout_s = timeout_s  # per connection: no test may hang on a silent peer
        self.connections = 0
        self.stop = threading.Event()  # set when the server closes; long behaviours poll it
        # a small backlog lets a test fill the accept queue: a connect then waits for the
        # kernel's SYN retransmission (1 s on Linux) once the loop accepts again
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self._listener.settimeout(_ACCEPT_POLL_S)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SocketServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def close_listener(self) -> None:
        """Stop listening now: later connections are refused; accepted ones go on."""
        self._listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._run, args=(sock, number), daemon=True).start()

    def _run(self, sock: socket.socket, number: int) -> None:
        with sock:
            sock.settimeout(self.timeout_s)
            with contextlib.suppress(OSError):  # the client went away: its test judges that
                self.behaviour(sock, number)


def read_request(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes] | None:
    """The next request on a connection: (head with its blank line, body of its
    Content-Length); None when the peer closed first. Bytes past it stay in `buf`."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    body = bytes(buf[:length])
    del buf[:length]
    return head, body


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """(method, target, [(name, value), …]) of a request head, names as sent."""
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:])]
    return method, target, headers
