"""The daemon's listening sockets get server.listen_backlog, not nanomsg's
fixed 100 (a larger burst of connects would wait for TCP's 1 s
retransmission). The backlog of a listening TCP socket is what the
kernel's sock_diag reports as its send queue (as `ss -lt` shows it)."""
import socket
import struct

from conftest import start_daemon


def listen_backlog(port):
    """Max backlog of the listening TCP socket on 127.0.0.1:port."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 1 << 10)
    req += b"\0" * 48  # any socket id: the dump filters by state (LISTEN)
    hdr = struct.pack("=IHHII", 16 + len(req), 20, 0x301, 1, 0)  # SOCK_DIAG_BY_FAMILY, REQUEST|DUMP
    s.send(hdr + req)
    found = None
    while True:
        data = s.recv(65536)
        at = 0
        while at + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, at)
            if kind == 3:  # NLMSG_DONE
                s.close()
                return found
            msg = data[at + 16:at + length]
            sport = struct.unpack_from(">H", msg, 4)[0]
            if sport == port:
                found = struct.unpack_from("=I", msg, 60)[0]
            at += (length + 3) & ~3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_listen_backlog_is_the_configured_one():
    for want in (777, None):
        port = free_port()
        settings = {"server.endpoint": f"tcp://127.0.0.1:{port}"}
        if want:
            settings["server.listen_backlog"] = want
        d = start_daemon(**{k.replace(".", "__"): v for k, v in settings.items()})
        try:
            got = listen_backlog(port)
            with open("/proc/sys/net/core/somaxconn") as f:
                cap = int(f.read())
            assert got == min(want or 4096, cap), (got, want)
        finally:
            d.stop()
            d.cleanup()
