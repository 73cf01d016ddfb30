"""``fieldrec serve``: the review service on the archive server (loopback by default)."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from pipeline.commands import UsageError
from pipeline.commands.options import add_archive, config_of, existing_archive
from pipeline.common.i18n import N_, _

HELP = N_("""\
Start the review service: people sign in (accounts from `fieldrec user add`), see today's
docking, device timelines and recordings, ask for access to a recording or a case, approve or
deny others' requests, watch review proxies under a grant, explain interruptions with a written
statement, and (auditors) read the access log. Every view of pictures or sound is logged with the
user, the grant and the time; every action is an append-only record sealed into the manifest chain.

The service binds 127.0.0.1:8080 unless --bind says otherwise. To reach it from other machines,
put it behind a TLS reverse proxy (see README, "Review service") and set [service] cookie_secure.
It does not hold the archive lock: ingest keeps running; the service takes the lock for each
commit of its records, briefly.

The pages are in the site's language (site.language, or --lang).

Exit codes: 0 stopped normally, 1 could not start (address in use), 2 usage error.
""")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=_("the review service: sign in, ask, approve, watch, explain"),
                       description=_(HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("--bind", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help=_("address to listen on (default 127.0.0.1:8080, the loopback only)"))
    p.set_defaults(handler=run)


def parse_bind(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(_("--bind {value}: give HOST:PORT, e.g. 127.0.0.1:8080").format(value=repr(text)))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise UsageError(_("--bind {value}: HOST must be an IP address (or localhost)").format(
                value=repr(text))) from None
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from pipeline.web.app import create_app

    host, port = parse_bind(args.bind)
    config = config_of(args)
    archive = existing_archive(Path(args.archive))
    app = create_app(archive, config)
    print(_("fieldrec review service on {url} for {archive} (Ctrl-C stops it)").format(
        url=f"http://{host}:{port}/", archive=archive), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, workers=1, log_level="warning",
                                           server_header=False, proxy_headers=False, access_log=False))
    server.run()
    return 0 if server.started else 1
