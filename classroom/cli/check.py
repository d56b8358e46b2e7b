"""``classroom check``: is this machine ready for a class?  As ``linkerd check`` asks of a cluster.

Each check says what it looked at and prints ✔ (passed), ‼ (a warning: the
game runs, something is missing that a part of it wants) or × (failed: a
round cannot run).  The exit code is 0 when every required check passed, 1
when one failed.  The checks are quick (well under three seconds): they import
what a round imports, open a loopback socket, fork once, read the levels and
the fonts; they never start a round unless ``--round`` asks for a tiny real
one (a few seconds more).
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from classroom.cli.common import EXIT_FAILED, EXIT_OK, Command, has_display

PASSED, WARNED, FAILED = "\u2714", "\u203c", "\u00d7"
PACKAGES = (  # (import name, the distribution a user installs)
    ("cryptography", "cryptography"),
    ("pygame", "pygame-ce"),
    ("uvloop", "uvloop"),
    ("networkx", "networkx"),
    ("yaml", "PyYAML"),
    ("orjson", "orjson"),
    ("platformdirs", "platformdirs"),
    ("rich", "rich"),
    ("prometheus_client", "prometheus-client"),
    ("opentelemetry.sdk.trace", "opentelemetry-sdk"),
    ("setproctitle", "setproctitle"),
)


@dataclass(frozen=True)
class Result:
    mark: str
    words: str


Check = Callable[[], Result]


MINIMUM_PYTHON = (3, 11)


def python_version() -> Result:
    version = ".".join(str(n) for n in sys.version_info[:3])
    if tuple(sys.version_info[:2]) >= MINIMUM_PYTHON:
        return Result(PASSED, f"Python {version} (3.11 or newer)")
    return Result(FAILED, f"Python {version}: the game needs 3.11 or newer")


def package(module: str, distribution: str) -> Check:
    def check() -> Result:
        if module == "uvloop" and sys.platform == "win32":
            return Result(PASSED, "uvloop is not used on Windows (asyncio's own loop runs the round)")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            imported = __import__(module, fromlist=["_"])
        except Exception as exc:  # any failure to import is the finding
            return Result(FAILED, f"{distribution} does not import ({type(exc).__name__}: {exc}): "
                          f"pip install {distribution}")
        if module == "pygame" and not getattr(imported, "IS_CE", False):
            return Result(FAILED, "pygame imports, but it is not pygame-ce: pip uninstall pygame, "
                          "pip install pygame-ce")
        version = getattr(imported, "__version__", None) or getattr(imported, "version", None)
        shown = f" {version}" if isinstance(version, str) else ""
        return Result(PASSED, f"{distribution}{shown} imports")

    return check


def tls13() -> Result:
    if getattr(ssl, "HAS_TLSv1_3", False):
        return Result(PASSED, f"TLS 1.3 is available in Python's ssl ({ssl.OPENSSL_VERSION})")
    return Result(FAILED, f"Python's ssl has no TLS 1.3 ({ssl.OPENSSL_VERSION}): the links need it")


def loopback() -> Result:
    try:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname(), timeout=2):
                conn, _ = server.accept()
                conn.close()
        return Result(PASSED, "loopback TCP sockets bind, listen and connect (127.0.0.1)")
    except OSError as exc:
        return Result(FAILED, f"a loopback socket on 127.0.0.1 does not work: {exc.strerror or exc}")


def fork() -> Result:
    if not hasattr(os, "fork"):
        return Result(FAILED, "this system has no fork(): every student and proxy is a forked process")
    try:
        pid = os.fork()
    except OSError as exc:
        return Result(FAILED, f"fork() failed: {exc.strerror or exc}")
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return Result(FAILED, "a forked child did not exit cleanly")
    return Result(PASSED, "processes fork (each student and each proxy is one)")


def levels() -> Result:
    from classroom.level import LevelError, list_levels
    from classroom.level.files import shipped_levels_dir

    try:
        found = list_levels(shipped_levels_dir())
    except LevelError as exc:
        return Result(FAILED, f"a bundled level does not load: {exc}")
    return Result(PASSED, f"the {len(found)} bundled levels load ({found[0].name} ... {found[-1].name})")


def fonts() -> Result:
    from classroom.game.ui.theme import FONT_FILES

    missing = [str(path) for path in FONT_FILES.values() if not path.is_file()]
    if missing:
        return Result(FAILED, f"the window's fonts are missing: {', '.join(missing)}")
    return Result(PASSED, f"the window's {len(FONT_FILES)} fonts are there (DejaVu)")


def display() -> Result:
    if has_display() or os.environ.get("SDL_VIDEODRIVER"):
        return Result(PASSED, "a display for `classroom play` (DISPLAY, WAYLAND_DISPLAY or SDL_VIDEODRIVER)")
    return Result(WARNED, "no display: `classroom play` needs one (`run` and `play --autoplay` do not)")


def shared_memory() -> Result:
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return Result(PASSED, "/dev/shm is writable: the round's clock lives in memory")
    return Result(WARNED, "no writable /dev/shm: the round's clock falls back to a file in the temporary folder")


def a_round() -> Result:
    import asyncio

    from classroom.level import load_level
    from classroom.mesh.runtime.round import Round, wait_gone

    level = load_level("01-first-note")
    start = time.monotonic()
    round_ = Round(level, level.resources, seed=level.seed, speed=20.0)
    try:
        result = asyncio.run(round_.run())
    except Exception as exc:  # any failure of the round is the finding
        return Result(FAILED, f"a round of {level.name} did not run: {type(exc).__name__}: {exc}")
    delivered = sum(1 for e in result.events if e.get("kind") == "result" and e.get("state") == "delivered")
    left = wait_gone(round_.pids())
    if left or not delivered:
        return Result(FAILED, f"a round of {level.name} delivered {delivered} notes and left {len(left)} "
                      "processes running")
    return Result(PASSED, f"a round of {level.name} ran at speed 20: {delivered} notes delivered in "
                  f"{time.monotonic() - start:.1f} s, and every process of it stopped")


REQUIRED: tuple[Check, ...] = (python_version, *(package(m, d) for m, d in PACKAGES), tls13, loopback, fork,
                                levels, fonts)
OPTIONAL: tuple[Check, ...] = (display, shared_memory)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--round", action="store_true", help="also play a tiny real round (a few seconds)")


def run(args: argparse.Namespace) -> int:
    checks = [*REQUIRED, *OPTIONAL, *((a_round,) if args.round else ())]
    failed = 0
    for check in checks:
        result = check()
        failed += result.mark == FAILED
        print(f"{result.mark} {result.words}")
    if failed:
        print(f"\n{failed} check{'s' if failed > 1 else ''} failed: a class cannot run here yet")
        return EXIT_FAILED
    print("\nStatus check results are \u2714")
    return EXIT_OK


COMMANDS = [Command("check", "is this machine ready for a class (like `linkerd check`)", arguments, run)]
