"""The HTTP client that fetches feeds and pages: someone else's content decides what it asks for, so every
request is guarded.

- only http and https; at most `max_redirects` redirects, each checked like the first request;
- the host's addresses are resolved once, checked, and the connection made to the checked address (a name
  that resolves to a public address at the check and to 127.0.0.1 at the connect cannot slip through):
  loopback, private, link-local (the cloud metadata address among them), multicast and reserved addresses
  are refused unless `allow_private` (a feed that itself lives on such an address may reach them);
- a timeout on connecting and on each read, and an overall deadline; a size limit (the Content-Length
  first, then the bytes read); a User-Agent naming qa; conditional GET (ETag, Last-Modified);
- at most one request per host every `host_delay` seconds.

Every failure is a FetchError with one line saying what went wrong."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from qa import __version__
from qa.errors import FetchError

USER_AGENT = f"qa/{__version__} (news question answering; +https://pypi.org/project/qa)"


@dataclass(frozen=True)
class Response:
    """A fetched resource: `status` 200 with its body, or 304 (not modified since the validators given)."""

    url: str  # after redirects
    status: int
    address: str = ""  # the IP address the last request was made to
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def is_public(address: str) -> bool:
    """Whether an IP address is one the public internet routes (not loopback, private, link-local,
    reserved, multicast; an IPv4 address inside an IPv6 one, mapped, 6to4, Teredo or NAT64, is judged as
    that IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in ipaddress.ip_network("::/96") or ip.is_site_local:  # IPv4-compatible (deprecated), fec0::/10
            return False
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in ipaddress.ip_network("64:ff9b::/96"):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            ip = inner
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def host_is_private(url: str) -> bool:
    """Whether a URL's host resolves to non-public addresses only (False when it cannot be resolved):
    a feed on this computer or the local network."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
        addresses = _addresses(host, 80)
    except (FetchError, ValueError):
        return False
    return bool(addresses) and not any(is_public(a) for a in addresses)


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r} ({exc})") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


class Fetcher:
    """Fetches URLs under the guards above; one Fetcher keeps the per-host delay across requests."""

    def __init__(self, timeout: float = 10.0, max_bytes: int = 5_000_000, host_delay: float = 1.0,
                 allow_private: bool = False, max_redirects: int = 5) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.host_delay = host_delay
        self.allow_private = allow_private
        self.max_redirects = max_redirects
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None,
            allow_private: bool | None = None) -> Response:
        """GET a URL (following checked redirects); `allow_private` overrides the fetcher's own rule for
        this request (a feed on the local network may lead to pages there)."""
        private_ok = self.allow_private if allow_private is None else allow_private
        deadline = time.monotonic() + 3 * self.timeout
        seen = []
        try:
            for _ in range(self.max_redirects + 1):
                self.check_url(url)
                seen.append(url)
                self._wait_for_host(url)
                if time.monotonic() > deadline:
                    raise FetchError(f"{url}: no answer by the deadline ({3 * self.timeout:g} s)")
                response = self._request(url, etag, last_modified, private_ok, deadline)
                if isinstance(response, Response):
                    return response
                url = urllib.parse.urljoin(url, response)
                if url in seen:
                    raise FetchError(f"redirect loop at {url}")
        except ValueError as exc:  # a malformed URL or port (of a link, or of a redirect's Location)
            raise FetchError(f"refused {url!r}: not a valid URL ({exc})") from None
        raise FetchError(f"more than {self.max_redirects} redirects, the last to {url}")

    @staticmethod
    def check_url(url: str) -> None:
        """Refuse what is not an http(s) URL with a host."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"refused {url!r}: only http and https URLs are fetched")
        if not parts.hostname:
            raise FetchError(f"refused {url!r}: no host")

    def _wait_for_host(self, url: str) -> None:
        host = urllib.parse.urlsplit(url).hostname or ""
        with self._lock:
            wait = self._last.get(host, -1e9) + self.host_delay - time.monotonic()
            self._last[host] = time.monotonic() + max(0.0, wait)
        if wait > 0:
            time.sleep(wait)

    def _request(self, url: str, etag: str | None, last_modified: str | None, private_ok: bool,
                 deadline: float) -> Response | str:
        """One request: a Response, or the Location of a redirect."""
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._checked_address(parts.hostname or "", port, private_ok)
        conn = _connection(parts.scheme, parts.hostname or "", port, address, self.timeout)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                   "Accept": "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
                             "application/xml;q=0.9,*/*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise FetchError(f"{url}: redirect ({resp.status}) without a Location")
                return location
            if resp.status == 304:
                return Response(url, 304, address, etag=etag, last_modified=last_modified)
            if resp.status != 200:
                raise FetchError(f"{url}: HTTP {resp.status} {resp.reason}".rstrip())
            body = self._body(url, resp, conn, deadline)
            return Response(url, 200, address, body, resp.getheader("Content-Type") or "", resp.getheader("ETag"),
                            resp.getheader("Last-Modified"))
        except (TimeoutError, socket.timeout):
            raise FetchError(f"{url}: no answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, FetchError):
                raise
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    def _checked_address(self, host: str, port: int, private_ok: bool) -> str:
        addresses = _addresses(host, port)
        if not private_ok:
            refused = [a for a in addresses if not is_public(a)]
            if refused:
                raise FetchError(f"refused {host}: it resolves to the non-public address {refused[0]} (loopback, "
                                 f"private, link-local or reserved); set QA_FETCH_PRIVATE=1 to allow such addresses")
        return addresses[0]

    def _body(self, url: str, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection,
              deadline: float) -> bytes:
        length = resp.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise FetchError(f"{url}: too large ({int(length):,} bytes; the limit is {self.max_bytes:,})")
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"{url}: still downloading at the deadline ({3 * self.timeout:g} s)")
            if conn.sock is not None:  # each read waits no longer than the time left (a trickle cannot stall it)
                conn.sock.settimeout(min(self.timeout, left))
            chunk = resp.read1(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{url}: too large (over {self.max_bytes:,} bytes, the limit)")
            chunks.append(chunk)


def _connection(scheme: str, host: str, port: int, address: str, timeout: float) -> http.client.HTTPConnection:
    """A connection to the checked `address`, speaking to `host` (its Host header, and TLS server name)."""
    if scheme == "https":
        return _PinnedHTTPS(host, port, address, timeout)
    return _PinnedHTTP(host, port, address, timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)

