"""``classroom host LEVEL`` and ``classroom join HOST:PORT``: a class whose students join from laptops.

See :mod:`classroom.mesh.join.host` (the lecturer's side) and
:mod:`classroom.mesh.join.laptop` (a student's) for how a desk is played
from a laptop; this module parses the options and prints what each screen
shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from classroom.cli.common import EXIT_FAILED, EXIT_OK, Command, bad_input, script_and_recorder, seconds, speed

DEFAULT_PORT = 7350
DEFAULT_WAIT = 120.0
CODE_LIFETIME = 900.0  # real seconds a join code lets laptops in (and never once the round started)


def address(text: str) -> tuple[str, int]:
    """ADDR:PORT, or ADDR alone for the default port (IPv4: the mesh's listeners are IPv4 sockets)."""
    host, _, port = text.partition(":") if text.count(":") == 1 else (text, "", "")
    if ":" in host or not host:
        raise argparse.ArgumentTypeError(f"{text!r}: an IPv4 address or a host name, and a port (ADDR:PORT)")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port)


def count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of laptops, 1 or more")
    return int(text)


def host_arguments(host: argparse.ArgumentParser) -> None:
    host.add_argument("level", help="a level file, or a level's name")
    host.add_argument("--listen", type=address, default=("127.0.0.1", DEFAULT_PORT), metavar="ADDR:PORT",
                      help=f"where laptops join, and the only address the class listens on beyond 127.0.0.1 "
                           f"(default 127.0.0.1:{DEFAULT_PORT}; port 0: any free one)")
    host.add_argument("--code", help="the round's join code (default: a fresh random one)")
    host.add_argument("--code-expires", type=seconds, default=CODE_LIFETIME, metavar="SECONDS",
                      help=f"the code lets laptops in for this long (default {CODE_LIFETIME:.0f} s)")
    host.add_argument("--expect", type=count, metavar="N", help="start once N laptops have joined")
    host.add_argument("--wait", type=seconds, metavar="SECONDS",
                      help=f"start after this long, however many joined (default {DEFAULT_WAIT:.0f} s)")
    host.add_argument("--headless", action="store_true", help="progress and summary in the terminal (a hosted "
                                                              "round is always headless for now)")
    config = host.add_mutually_exclusive_group()
    config.add_argument("--solution", action="store_true", help="use the level's own solution")
    config.add_argument("--config", metavar="FILE", help="your mesh configuration (YAML resources)")
    host.add_argument("--seed", type=int, help="seed of the round's random choices")
    host.add_argument("--speed", type=speed, default=1.0, help="scale every time of the level")
    host.add_argument("--report", metavar="FILE", help="write the run report (JSON)")
    host.add_argument("--record", metavar="FILE", help="write every event of the round to FILE (JSON Lines)")
    host.add_argument("--ca-dir", metavar="DIR", help="plug in a class CA (ca.crt, ca.key)")
    host.add_argument("--quiet", action="store_true", help="no progress line")
    host.add_argument("--no-announce", action="store_true",
                      help="do not announce the class on the network (mDNS/DNS-SD); laptops then need the address")
    host.add_argument("--script", metavar="FILE", help="play a lecture script on the round (its pauses, steps "
                                                       "and speeds reach every laptop's clock)")


def host(args: argparse.Namespace) -> int:
    from classroom.cli.run import resources_for
    from classroom.mesh.control import pki
    from classroom.mesh.join import protocol
    from classroom.mesh.join.host import JoinServer
    from classroom.mesh.runtime.round import PER_ROW_PROFILES

    chosen = resources_for(args)
    if isinstance(chosen, int):
        return chosen
    level, resources = chosen
    if level.profile in PER_ROW_PROFILES:
        return bad_input(f"{level.path}: profile {level.profile} runs one proxy per row, so no desk can move to "
                         f"a laptop (hosting needs a sidecar per student)")
    seats = [s.name for s in level.students if not s.behaviour.absent]
    if args.expect is not None and args.expect > len(seats):
        return bad_input(f"--expect {args.expect}: level {level.name} has only {len(seats)} seats to join")
    if args.code is not None and (problem := protocol.valid_code(args.code)):
        return bad_input(f"--code {args.code!r}: {problem}")
    if args.ca_dir and not (Path(args.ca_dir) / "ca.crt").is_file():
        return bad_input(f"{args.ca_dir}: no ca.crt there (--ca-dir wants ca.crt and ca.key)")
    listen = args.listen
    if problem := _cannot_listen(listen):
        return bad_input(f"--listen {listen[0]}:{listen[1]}: {problem}")
    if not args.headless and not args.quiet:
        print("classroom: host: the round runs headless (the window does not show laptops' desks yet)",
              file=sys.stderr)
    seed = level.seed if args.seed is None else args.seed
    asked = script_and_recorder(args, level, seed)
    if isinstance(asked, int):
        return asked
    script, recorder = asked
    from classroom.headless import run_headless

    with tempfile.TemporaryDirectory(prefix="classroom-host-ca-") as private:
        ca = pki.CertificateAuthority.load(Path(args.ca_dir)) if args.ca_dir else pki.CertificateAuthority.create()
        ca.save(Path(private))  # the office signs with the CA whose fingerprint the screens show
        code = protocol.JoinCode(args.code or protocol.new_code(), time.monotonic() + args.code_expires)
        server = JoinServer(level.name, seats, code, ca, listen, say)
        wait = args.wait if args.wait is not None or args.expect is not None else DEFAULT_WAIT

        async def prelude() -> None:
            where, port = await server.serve()
            announcement = None
            if where in ("0.0.0.0", ""):
                say("not announced on the network: --listen 0.0.0.0 names no one address to announce")
            elif not args.no_announce and not _loopback(where):
                from classroom.mesh.join.lan import SERVICE, Announcement

                announcement = Announcement(level.name, where, port, code.code)
                problem = await asyncio.to_thread(announcement.start)
                say(f"not announced on the network: {problem}" if problem else
                    f"announced on the network as {SERVICE} (students may leave out HOST:PORT)")
            try:
                await _wait(where, port)
            finally:
                if announcement is not None:
                    await asyncio.to_thread(announcement.stop)

        async def _wait(where: str, port: int) -> None:
            der = ca.cert.public_bytes(_der())
            say(f"class {level.name}: join code {code.code}  (good for {args.code_expires:.0f} s, "
                f"until the round starts)")
            say(f"class CA fingerprint {protocol.fingerprint(der)}")
            say(f"students: classroom join {where}:{port} --code {code.code} [--as NAME]   "
                f"(seats: {', '.join(seats)})")
            say(f"waiting for {args.expect or len(seats)} laptops" + (f", at most {wait:g} s" if wait else ""))
            await server.wait_for_class(args.expect, wait)
            joined = sorted(server.seats())
            say(f"starting the round: {len(joined)} desk(s) from laptops ({', '.join(joined) or 'none'}), "
                f"{len(seats) - len(joined)} played here")

        report = run_headless(level, resources, seed, args.speed, quiet=args.quiet, ca_dir=private,
                              record=recorder, remote=server, prelude=prelude, script=script)
    if report is None:
        return EXIT_FAILED
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if report["passed"] else EXIT_FAILED


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "localhost"


def _der() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def _cannot_listen(listen: tuple[str, int]) -> str | None:
    with socket.socket(socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(listen)
        except OSError as exc:
            return f"cannot listen there: {exc.strerror or exc}"
    return None


def say(line: str) -> None:
    print(f"classroom: host: {line}" if line.startswith("refused") else line, file=sys.stderr, flush=True)


def join_arguments(join: argparse.ArgumentParser) -> None:
    join.add_argument("address", type=address, metavar="HOST:PORT", nargs="?",
                      help="where the lecturer's host listens (default: the class on the network whose "
                           "announcement matches the code, found by mDNS/DNS-SD)")
    join.add_argument("--code", required=True, help="the join code on the lecturer's screen")
    join.add_argument("--as", dest="seat", metavar="NAME", help="the seat to take (default: the first free one)")
    join.add_argument("--fingerprint", metavar="HEX",
                      help="the class CA's fingerprint (or its start): refuse any other class")


def join(args: argparse.Namespace) -> int:
    from classroom.mesh.join import protocol
    from classroom.mesh.join.laptop import Joiner
    from classroom.mesh.runtime import net

    if protocol.valid_code(args.code):
        return bad_input(f"--code {args.code!r}: {protocol.valid_code(args.code)}")
    if args.seat is not None and not protocol.NAME_PATTERN.match(args.seat):
        return bad_input(f"--as {args.seat!r}: not a student's name (lower-case letters, digits, dashes)")
    if args.address is None:
        from classroom.mesh.join.lan import find

        found = find(args.code)
        if isinstance(found, str):
            print(f"classroom: join: {found}", file=sys.stderr)
            return EXIT_FAILED
        print(f"found class {found[2]} at {found[0]}:{found[1]} on the network", file=sys.stderr)
        args.address = found[:2]
    host_name, port = args.address
    joiner = Joiner(host_name, port, args.code, args.seat, lambda line: print(line, file=sys.stderr, flush=True),
                    args.fingerprint)
    return int(net.run(joiner.run()))


COMMANDS = [
    Command("host", "run a round whose students join from their own laptops (`classroom join`)",
            host_arguments, host),
    Command("join", "join a hosted class from this laptop: her proxy and her student run here",
            join_arguments, join),
]
