#!/usr/bin/env python3
"""An https front for the tests' local smart-HTTP server (tests/src/server.rs).

    python3 tests/images/tls_proxy.py CERT KEY BACKEND_PORT

Listens on 127.0.0.1 (a free port, printed on stdout as the first line), ends TLS with
CERT/KEY and passes the bytes through to 127.0.0.1:BACKEND_PORT, one thread per
connection, until stdin closes. It lets git in a container speak https to a host the
credential helper is configured for, as it does to GitHub: configure's entries are
`credential.https://HOST.helper`, which a plain-http URL would never match.
"""

import socket
import ssl
import sys
import threading


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
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, context, backend_port):
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    back = socket.create_connection(("127.0.0.1", backend_port))
    t = threading.Thread(target=pump, args=(back, tls), daemon=True)
    t.start()
    pump(tls, back)
    t.join()
    tls.close()
    back.close()


def main():
    cert, key, backend_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, context, backend_port), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    # The test holds stdin open for as long as it needs the proxy.
    sys.stdin.read()


if __name__ == "__main__":
    main()
