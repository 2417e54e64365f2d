"""The SSRF-safe fetcher over real HTTP to the stub. Refusals must happen before any connection:
the network guard (conftest) fails the test on any attempt beyond loopback or any real DNS lookup."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from llmcfg import ForbiddenHostError, ImageFetchError, ImageTooLargeError, NotAnImageError
from llmcfg.images.fetch import ImageFetcher
from llmcfg.testing import FakeProvider
from tests.conftest import blocked_connections
from tests.fetching import DRIVERS, Driver, fetcher
from tests.images import png


def test_fetches_and_detects_type_from_bytes(fake: FakeProvider, dns: dict[str, str]) -> None:
    dns["images.test"] = "127.0.0.1"
    data = png()
    fake.serve("/a.bin", data, content_type="text/plain")
    fetched = fetcher(allowed_domains=["images.test"]).fetch(f"http://images.test:{fake.port}/a.bin")
    assert (fetched.data, fetched.content_type) == (data, "image/png")
    assert (
        fetcher()
        .fetch_data_url(f"http://127.0.0.1:{fake.port}/a.bin")
        .startswith("data:image/png;base64,iVBOR")
    )


@pytest.mark.parametrize("driver", DRIVERS)
def test_both_drivers_fetch(fake: FakeProvider, driver: Driver) -> None:
    data = png()
    fake.serve("/a.png", data, content_type="text/plain")
    fetched = driver(fetcher(), f"http://127.0.0.1:{fake.port}/a.png")
    assert (fetched.data, fetched.content_type) == (data, "image/png")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.test", True),
        ("sub.cdn.example.test", True),
        ("cdn.example.test", False),  # *.cdn.example.test means subdomains only
        ("evil-example.test", False),
        ("example.test.evil.test", False),
        ("notexample.test", False),
        ("EXAMPLE.TEST", True),
        ("evilcdn.example.test", False),  # the wildcard needs a dot boundary
        ("xcdn.example.test", False),
        ("a.evilcdn.example.test", False),
        ("deep.sub.cdn.example.test", True),
        ("example.test.", True),
    ],
)
@pytest.mark.parametrize("driver", DRIVERS)
def test_whitelist_matches_exactly_or_by_subdomain(
    fake: FakeProvider, dns: dict[str, str], host: str, allowed: bool, driver: Driver
) -> None:
    dns[host.lower().rstrip(".")] = "127.0.0.1"
    fake.serve("/i.png", png())
    policy = fetcher(allowed_domains=["example.test", "*.cdn.example.test"])
    url = f"http://{host}:{fake.port}/i.png"
    if allowed:
        assert driver(policy, url).content_type == "image/png"
    else:
        with pytest.raises(ForbiddenHostError, match="allowed_domains"):
            driver(policy, url)
        assert fake.gets == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.test/a.png",
        "file:///etc/passwd",
        "gopher://example.test/",
        "https://example.com@10.0.0.1/a.png",
        "https://user:pass@example.test/a.png",
        "https://@example.test/a.png",
        "https://example.test%40127.0.0.1/a.png",
    ],
)
@pytest.mark.parametrize("driver", DRIVERS)
def test_schemes_and_userinfo_are_refused(url: str, driver: Driver) -> None:
    with pytest.raises(ForbiddenHostError):
        driver(ImageFetcher(), url)


def test_the_keyword_defaults_are_the_config_sections() -> None:
    """``llmcfg.ImageFetcher()`` is the ``fetch:`` section left empty: docs/images.md gives one
    table of defaults for both."""
    from llmcfg.config.schema import FetchConfig

    def settings(fetcher: ImageFetcher) -> dict[str, object]:
        return {name: value for name, value in vars(fetcher).items() if not name.startswith("_")}

    assert settings(ImageFetcher()) == settings(ImageFetcher(**FetchConfig().model_dump()))
    assert settings(ImageFetcher()) == {
        "allowed_domains": [],
        "allow_http": False,
        "allowed_networks": [],
        "max_bytes": 10 * 1024 * 1024,
        "timeout_s": 30,
        "max_redirects": 3,
        "max_pixels": 50_000_000,
        "local_files": True,
    }


def test_http_is_refused_unless_allowed() -> None:
    with pytest.raises(ForbiddenHostError, match="plain http"):
        ImageFetcher().fetch("http://example.test/a.png")


@pytest.mark.parametrize("driver", DRIVERS)
def test_allow_private_networks_true_allows_every_address(fake: FakeProvider, driver: Driver) -> None:
    fake.serve("/a.png", png())
    policy = ImageFetcher(allow_http=True, allow_private_networks=True)
    assert driver(policy, f"http://127.0.0.1:{fake.port}/a.png").data == png()
    with pytest.raises(ImageFetchError, match="download failed") as refused:  # allowed, then not answered:
        driver(policy, f"http://[::1]:{fake.port}/a.png")  # the fake listens on IPv4 only
    assert not isinstance(refused.value, ForbiddenHostError)


def test_an_allowed_network_may_be_written_with_host_bits(fake: FakeProvider) -> None:
    """``127.0.0.5/8`` means 127.0.0.0/8, as an operator writing an address of the network means."""
    fake.serve("/a.png", png())
    policy = ImageFetcher(allow_http=True, allow_private_networks=["127.0.0.5/8"])
    assert policy.fetch(f"http://127.0.0.1:{fake.port}/a.png").data == png()


ADDRESSES = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]",
    "[::127.0.0.1]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",
    "[2002:a9fe:a9fe::1]",
]


@pytest.mark.parametrize("host", ADDRESSES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_every_non_public_address_class_is_refused(fake: FakeProvider, host: str, driver: Driver) -> None:
    before = len(blocked_connections)
    with pytest.raises(ForbiddenHostError, match="not a public internet address"):
        driver(ImageFetcher(allow_http=True), f"http://{host}:{fake.port}/a.png")
    assert fake.gets == []
    assert len(blocked_connections) == before


def test_hostname_resolving_to_loopback_is_refused(fake: FakeProvider, dns: dict[str, str]) -> None:
    dns["rebind.test"] = "127.0.0.1"
    fake.serve("/a.png", png())
    with pytest.raises(ForbiddenHostError):
        ImageFetcher(allow_http=True).fetch(f"http://rebind.test:{fake.port}/a.png")
    assert fake.gets == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/x",
        "http://10.0.0.1/x",
        "http://outside.test/x.png",
    ],
)
@pytest.mark.parametrize("driver", DRIVERS)
def test_every_redirect_hop_is_checked_like_the_first(
    fake: FakeProvider, dns: dict[str, str], target: str, driver: Driver
) -> None:
    dns["images.test"] = "127.0.0.1"
    dns["outside.test"] = "127.0.0.1"
    url = fake.redirect("/r", target)
    before = len(blocked_connections)
    with pytest.raises(ForbiddenHostError):
        driver(fetcher(allowed_domains=["images.test"]), url.replace("127.0.0.1", "images.test"))
    assert fake.gets == ["/r"]
    assert len(blocked_connections) == before


@pytest.mark.parametrize("driver", DRIVERS)
def test_relative_redirects_are_followed_up_to_the_limit(fake: FakeProvider, driver: Driver) -> None:
    fake.serve("/final.png", png())
    fake.redirect("/one", "/two")
    fake.redirect("/two", "/final.png")
    fetched = driver(fetcher(max_redirects=2), f"http://127.0.0.1:{fake.port}/one")
    assert (fetched.content_type, fetched.url) == ("image/png", f"http://127.0.0.1:{fake.port}/final.png")
    assert fake.gets == ["/one", "/two", "/final.png"]
    with pytest.raises(ForbiddenHostError, match="more than 1 redirects"):
        driver(fetcher(max_redirects=1), f"http://127.0.0.1:{fake.port}/one")
    with pytest.raises(ForbiddenHostError, match="more than 0 redirects"):
        driver(fetcher(max_redirects=0), f"http://127.0.0.1:{fake.port}/one")


@pytest.mark.parametrize("driver", DRIVERS)
def test_body_over_the_cap_is_cut_off_with_memory_bounded(fake: FakeProvider, driver: Driver) -> None:
    sent = [0]

    def sixty_four_megabytes() -> Iterator[bytes]:
        chunk = png()[:16] + b"\0" * (256 * 1024 - 16)
        for _ in range(256):
            sent[0] += len(chunk)
            yield chunk

    url = fake.serve("/huge.png", sixty_four_megabytes, content_type="image/png")
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError, match="download stopped"):
            driver(fetcher(max_size_mb=10), url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 10 * 1024 * 1024, f"peak {peak:,} bytes"
    assert sent[0] < 64 * 1024 * 1024  # the server did not get to send it all


@pytest.mark.parametrize("driver", DRIVERS)
def test_declared_length_over_the_cap_is_refused_before_reading(fake: FakeProvider, driver: Driver) -> None:
    url = fake.serve("/big.png", png() + b"\0" * (2 * 1024 * 1024), content_type="image/png")
    with pytest.raises(ImageTooLargeError, match=r"image is 2,09\d,\d{3} bytes; the limit is 1,048,576"):
        driver(fetcher(max_size_mb=1), url)
    exact = fake.serve("/exact.png", png() + b"\0" * (1024 * 1024 - len(png())), content_type="image/png")
    assert len(driver(fetcher(max_size_mb=1), exact).data) == 1024 * 1024  # the cap itself is allowed


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_http_error_statuses_are_refused(fake: FakeProvider, driver: Driver, status: int) -> None:
    url = fake.serve("/gone", png(), status=status, content_type="image/png")
    with pytest.raises(ImageFetchError, match=f"HTTP {status}"):
        driver(fetcher(), url)


@pytest.mark.parametrize("driver", DRIVERS)
def test_html_is_refused_as_not_an_image_from_its_bytes(fake: FakeProvider, driver: Driver) -> None:
    """The Content-Type claims PNG; the bytes decide, before Pillow ever sees them."""
    html = fake.serve("/page", b"<html><body>hello, this is a page</body></html>", content_type="image/png")
    with pytest.raises(NotAnImageError, match=r"is not an image: the body is not a JPEG, PNG, WEBP or GIF"):
        driver(fetcher(), html)


@pytest.mark.parametrize("driver", DRIVERS)
def test_refusal_logs_one_event_naming_the_refused_hop(fake: FakeProvider, driver: Driver) -> None:
    """The event is about the URL that was refused (after redirects), shown without its query."""
    import structlog

    url = fake.redirect("/r", "http://10.0.0.1:8080/x.png?sig=secret")
    with structlog.testing.capture_logs() as logs, pytest.raises(ForbiddenHostError) as refused:
        driver(fetcher(), url)
    assert logs == [
        {
            "event": "image.fetch_refused",
            "log_level": "warning",
            "url": "http://10.0.0.1:8080/x.png?\u2026",
            "host": "10.0.0.1",
            "error": "ForbiddenHostError",
            "reason": str(refused.value),
        }
    ]


def test_name_is_resolved_once_and_the_checked_address_is_used(
    fake: FakeProvider, dns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No second lookup: a rebinding resolver that answers differently the second time changes nothing."""
    import socket

    lookups: list[str] = []
    original = socket.getaddrinfo

    def counting(host: str, *args: object, **kwargs: object) -> object:
        lookups.append(host)
        return original(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    dns["images.test"] = "127.0.0.1"
    fake.serve("/a.png", png())
    fetcher(allowed_domains=["images.test"]).fetch(f"http://images.test:{fake.port}/a.png")
    assert lookups.count("images.test") == 1
    assert set(lookups) - {"images.test"} <= {"127.0.0.1"}  # the connection went to the checked address
