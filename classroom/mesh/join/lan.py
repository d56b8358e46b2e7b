"""Finding the class on the lecture hall's network: mDNS/DNS-SD with the ``zeroconf`` package.

The host announces its join port as a DNS-SD service of type
``_classroom._tcp.local.`` on the ``--listen`` interface, with TXT
properties ``level`` and ``tag``; ``classroom join --code CODE`` without an
address browses for that type and joins the first class whose ``tag``
matches the code.  The tag is the first byte of an HMAC of the code: enough
to tell a few classes in one hall apart, too little to learn the code from
(it leaves 32 of its 40 bits unknown, and guesses can only be tried at the
join port, each one refused and shown on the lecturer's screen).  A class
whose tag matches by chance refuses the wrong code like any other.

Where ``zeroconf`` is not installed (it is an optional dependency, the
``lan`` extra), the host says so and goes on without announcing; a laptop
then needs the address.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import time
from typing import Any

from classroom.mesh.join.protocol import normal_code

SERVICE = "_classroom._tcp.local."


def code_tag(code: str) -> str:
    """One byte of HMAC-SHA256 of the code, as hex: what the announcement says about it."""
    return hmac.new(b"classroom-mesh join tag", normal_code(code).encode(), hashlib.sha256).hexdigest()[:2]


class Announcement:
    """The class, announced on one interface until :meth:`stop`."""

    def __init__(self, level: str, address: str, port: int, code: str) -> None:
        self.level, self.address, self.port, self.code = level, address, port, code
        self._zc: Any = None
        self._info: Any = None

    def start(self) -> str | None:
        """Announce; why it could not (no zeroconf, no multicast there), or None."""
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            return "the zeroconf package is not installed (pip install 'classroom-mesh[lan]')"
        try:
            self._zc = Zeroconf(interfaces=[self.address])
            self._info = ServiceInfo(SERVICE, f"{self.level}-{self.port}.{SERVICE}",
                                     addresses=[socket.inet_aton(self.address)], port=self.port,
                                     properties={"level": self.level, "tag": code_tag(self.code), "v": "1"},
                                     server=f"classroom-{self.port}.local.")
            self._zc.register_service(self._info)
        except (OSError, ValueError, Exception) as exc:  # zeroconf's own errors derive from Exception
            self.stop()
            return f"{type(exc).__name__}: {exc}"
        return None

    def stop(self) -> None:
        if self._zc is None:
            return
        with contextlib.suppress(Exception):
            if self._info is not None:
                self._zc.unregister_service(self._info)
        with contextlib.suppress(Exception):
            self._zc.close()
        self._zc = None


def find(code: str, limit: float = 5.0) -> tuple[str, int, str] | str:
    """The first class on the network whose tag matches ``code``: (address, port, level), or why none."""
    try:
        from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf
    except ImportError:
        return "the zeroconf package is not installed: give the host's address (HOST:PORT)"
    names: list[str] = []

    def seen(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        if state_change is ServiceStateChange.Added:
            names.append(name)

    zc = Zeroconf()
    try:
        browser = ServiceBrowser(zc, SERVICE, handlers=[seen])
        deadline = time.monotonic() + limit
        tried: set[str] = set()
        tag = code_tag(code)
        while time.monotonic() < deadline:
            for name in [n for n in names if n not in tried]:
                tried.add(name)
                info = zc.get_service_info(SERVICE, name, timeout=1500)
                if info is None or not info.parsed_addresses():
                    continue
                props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
                if props.get("tag") == tag:
                    return info.parsed_addresses()[0], int(info.port or 0), props.get("level", "?")
            time.sleep(0.1)
        browser.cancel()
    finally:
        zc.close()
    found = f" ({len(tried)} other class{'es' if len(tried) != 1 else ''} there)" if tried else ""
    return f"no class with this code announced itself on the network within {limit:.0f} s{found}: " \
           f"give the host's address (HOST:PORT)"
