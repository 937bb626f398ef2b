#!/usr/bin/python3
"""TCP relay from inside a network namespace to the host's loopback.

    relay.py NETNS_PATH LISTEN_PORT TARGET_PORT

Listens on 127.0.0.1:LISTEN_PORT inside the namespace NETNS_PATH (e.g.
/run/netns/kcrn-1234) and relays each connection to 127.0.0.1:TARGET_PORT
of the namespace it was started in. The test cluster's kcrd pulls from
"127.0.0.1:5000" as everywhere else in kcr's tests, and the host's registry
is not reachable from inside the namespace otherwise.

Only the listening socket is made inside the namespace (a socket keeps the
namespace it was created in); the thread then returns to the host's
namespace, so every connect() reaches the host's loopback, nowhere else.
Writes "ready" on stdout once listening.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def listen_in(netns_path, port):
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(64)
        finally:
            setns(host)
    finally:
        os.close(host)
        os.close(target)
    return s


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close: the other direction may still be talking.
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def serve(client, port):
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    t.start()
    pump(client, upstream)
    t.join()
    client.close()
    upstream.close()


def main():
    netns_path, listen_port, target_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = listen_in(netns_path, listen_port)
    print("ready", flush=True)
    while True:
        client, _ = s.accept()
        threading.Thread(target=serve, args=(client, target_port), daemon=True).start()


if __name__ == "__main__":
    main()
