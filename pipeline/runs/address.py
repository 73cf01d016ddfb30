"""Is a Ray address one fieldrec can join? Its form, then whether a Ray cluster answers there.

Asked before ``ray.init``, which waits minutes for an address where nothing answers (holding the
archive lock all the while). No Ray import here: commands check the form while parsing.
"""

from __future__ import annotations

import os
import socket

from pipeline.common.i18n import _


class ClusterUnreachable(RuntimeError):
    """The Ray address given cannot be used: nothing answers there, or not as a Ray cluster."""


class AddressNotSupported(ClusterUnreachable):
    """The Ray address is not of a form fieldrec can use (a usage error)."""


# Waited for each of: the TCP connection, the reply to an HTTP/2 greeting (gRPC, which Ray's GCS
# speaks). Together they stay well under the 30 s an operator should wait to learn of a typo.
PROBE_TIMEOUT_S = 10.0
# HTTP/2's client preface, then an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 0x04, 0, 0, 0, 0, 0])


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Ray address fieldrec can use, or None. No network involved."""
    if address in ("auto", "local"):
        return None
    if "://" in address:
        if address.split("://", 1)[0] == "ray":
            return _("{address}: Ray Client addresses (ray://) are not supported: fieldrec follows each file's "
                     "progress through streaming tasks, which Ray Client cannot run. Give the cluster's GCS "
                     "address instead (HEAD_HOST:6379), from a machine that reaches every node").format(address=address)
        return _("{address}: not a Ray cluster address; give HOST:PORT of the head node's GCS (port 6379 "
                 "unless the cluster was started otherwise)").format(address=address)
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        return _("{address}: not a Ray cluster address; give HOST:PORT, e.g. head.example:6379").format(address=address)
    return None


def check_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Refuse, within seconds, an address that is not a Ray cluster's GCS (``host:port``) or where
    nothing answers: ``ray.init`` would otherwise wait minutes (holding the archive lock)."""
    problem = address_problem(address)
    if problem:
        raise AddressNotSupported(problem)
    if address in ("auto", "local"):
        return
    host, _sep, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            if os.environ.get("RAY_USE_TLS", "0") in ("", "0"):
                conn.settimeout(timeout)
                conn.sendall(_H2_PREFACE)
                reply = conn.recv(9)
                if len(reply) < 9 or reply[3] != 0x04:          # a SETTINGS frame: an HTTP/2 server
                    raise ClusterUnreachable(_(
                        "{address} answers, but not as a Ray cluster (no gRPC there): check the port "
                        "(the head node's GCS port, 6379 unless the cluster was started otherwise)").format(
                            address=address))
    except OSError as exc:
        what = _("no answer within {s:.0f} s").format(s=timeout) if isinstance(exc, socket.timeout) \
            else (exc.strerror or str(exc))
        raise ClusterUnreachable(_(
            "the Ray cluster at {address} cannot be reached ({what}); check the address and that the "
            "cluster is running, or leave out --address to run on this machine").format(
                address=address, what=what)) from None
