"""The fetch protocol driven step by step, without a network: the steps say what to do next (resolve,
send, receive) and are told the answer, so every check of ``fetch``/``afetch`` can be tried here with
scripted answers and a scripted clock, in microseconds. The end-to-end tests over real HTTP are in
test_fetch*.py; these pin each check's boundary and message."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmcfg import ForbiddenHostError, ImageFetchError, ImageTooLargeError, NotAnImageError
from llmcfg.images.addresses import Network
from llmcfg.images.fetch_steps import (
    Driver,
    FetchedImage,
    Policy,
    Receive,
    Resolve,
    Send,
    Step,
    check_steps,
    check_url,
    fetch_steps,
    host_allowed,
    literal_address,
    shown_url,
)
from tests.images import png

PNG = png(8, 8)
PUBLIC = "93.184.216.34"


@dataclass
class Head:
    """A response head as the runners hand it over (httpx's: ``status_code`` and ``headers``)."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Clock:
    now: float = 100.0
    step: float = 0.0  # added after every reading

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def policy(**settings: Any) -> Policy:
    options: dict[str, Any] = {
        "allowed_domains": [],
        "allow_http": False,
        "allowed_networks": [],
        "max_bytes": 10_000,
        "timeout_s": 10.0,
        "max_redirects": 3,
    }
    options.update(settings)
    return Policy(**options)


@dataclass
class Run:
    steps: list[Step]
    result: FetchedImage | None = None


def run(
    url: str,
    the_policy: Policy,
    responses: list[tuple[Head, list[bytes]]],
    dns: dict[str, list[str]] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Run:
    """Drive ``fetch_steps`` with scripted DNS answers and responses (a head and its body chunks)."""
    record = Run([])
    driver = Driver(fetch_steps(url, the_policy))
    body: list[bytes] = []
    while (step := driver.next()) is not None:
        record.steps.append(step)
        if on_step is not None:
            on_step(step)
        if isinstance(step, Resolve):
            driver.reply = (dns or {})[step.host]
        elif isinstance(step, Send):
            head, chunks = responses.pop(0)
            body = [*chunks, b""]
            driver.reply = head
        else:
            driver.reply = body.pop(0)
    record.result = driver.result
    return record


def refusal(
    url: str, the_policy: Policy, responses: list[tuple[Head, list[bytes]]], **kwargs: Any
) -> Exception:
    with pytest.raises(ImageFetchError) as caught:
        run(url, the_policy, responses, **kwargs)
    return caught.value


def ok(*chunks: bytes, **headers: str) -> tuple[Head, list[bytes]]:
    return Head(200, headers), list(chunks or [PNG])


def moved(location: str | None, status: int = 302) -> tuple[Head, list[bytes]]:
    return Head(status, {"location": location} if location is not None else {}), []


def sends(record: Run) -> list[Send]:
    return [step for step in record.steps if isinstance(step, Send)]


# -- one hop -------------------------------------------------------------------------------------


def test_a_fetch_resolves_checks_sends_to_the_checked_address_and_reads_the_body() -> None:
    record = run(
        "https://Images.Example.COM./a/b.png?x=1#frag",
        policy(),
        [ok(PNG[:10], PNG[10:])],
        dns={"images.example.com": [PUBLIC, "8.8.8.8"]},
    )
    assert record.steps[0] == Resolve("images.example.com", 443)
    send = sends(record)[0]
    assert send.url == f"https://{PUBLIC}:443/a/b.png?x=1#frag"
    assert send.headers == {
        "Host": "images.example.com",
        "Accept": "image/*",
        "Accept-Encoding": "gzip, deflate",
    }
    assert send.extensions == {"sni_hostname": "images.example.com"}
    assert send.options == {"headers": send.headers, "extensions": send.extensions, "follow_redirects": False}
    assert record.result == FetchedImage(PNG, "image/png", "https://Images.Example.COM./a/b.png?x=1#frag")
    assert sum(isinstance(step, Receive) for step in record.steps) == 3  # two chunks and the end


def test_plain_http_on_another_port_names_the_port_and_has_no_tls_name() -> None:
    record = run(
        "http://img.example:8080/p.png", policy(allow_http=True), [ok()], dns={"img.example": [PUBLIC]}
    )
    assert record.steps[0] == Resolve("img.example", 8080)
    send = sends(record)[0]
    assert (send.url, send.headers["Host"], send.extensions) == (
        f"http://{PUBLIC}:8080/p.png",
        "img.example:8080",
        {},
    )


def test_http_on_port_80_and_https_on_443_need_no_port_in_the_host_header() -> None:
    record = run("http://img.example/p.png", policy(allow_http=True), [ok()], dns={"img.example": [PUBLIC]})
    assert record.steps[0] == Resolve("img.example", 80)
    assert sends(record)[0].headers["Host"] == "img.example"
    record = run("https://img.example:80/p.png", policy(), [ok()], dns={"img.example": [PUBLIC]})
    assert sends(record)[0].headers["Host"] == "img.example:80"
    record = run(
        "http://img.example:443/p.png", policy(allow_http=True), [ok()], dns={"img.example": [PUBLIC]}
    )
    assert sends(record)[0].headers["Host"] == "img.example:443"


def test_an_ipv6_address_is_bracketed_in_the_target() -> None:
    record = run("https://v6.example/p.png", policy(), [ok()], dns={"v6.example": ["2606:4700:4700::1111"]})
    assert sends(record)[0].url == "https://[2606:4700:4700::1111]:443/p.png"


def test_a_literal_address_is_not_resolved() -> None:
    record = run(f"https://{PUBLIC}/p.png", policy(), [ok()])
    assert not any(isinstance(step, Resolve) for step in record.steps)
    assert sends(record)[0].url == f"https://{PUBLIC}:443/p.png"
    record = run("https://134744072/p.png", policy(), [ok()])  # 8.8.8.8 in the legacy spelling
    assert sends(record)[0].url == "https://8.8.8.8:443/p.png"


def test_every_address_of_the_answer_is_checked_and_the_first_is_used() -> None:
    for answer in (["8.8.8.8", "10.0.0.1"], ["10.0.0.1", "8.8.8.8"], ["8.8.8.8", "fe80::1%eth0"]):
        error = refusal("https://img.example/p.png", policy(), [ok()], dns={"img.example": answer})
        assert isinstance(error, ForbiddenHostError)
        assert "is not a public internet address" in str(error)
    record = run("https://img.example/p.png", policy(), [ok()], dns={"img.example": ["8.8.4.4", "8.8.8.8"]})
    assert sends(record)[0].url == "https://8.8.4.4:443/p.png"


def test_a_name_without_addresses_did_not_resolve() -> None:
    error = refusal("https://img.example/p.png", policy(), [], dns={"img.example": []})
    assert type(error) is ImageFetchError
    assert str(error) == "host 'img.example' did not resolve"


def test_allowed_networks_open_a_private_address() -> None:
    import ipaddress

    networks: list[Network] = [ipaddress.ip_network("10.1.0.0/16")]
    record = run(
        "https://img.example/p.png",
        policy(allowed_networks=networks),
        [ok()],
        dns={"img.example": ["10.1.2.3"]},
    )
    assert sends(record)[0].url == "https://10.1.2.3:443/p.png"
    assert refusal(
        "https://img.example/p.png", policy(allowed_networks=networks), [], dns={"img.example": ["10.2.0.1"]}
    )


# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://img.example/p.png", "scheme 'ftp' is not allowed; use https"),
        ("FILE:///etc/passwd", "scheme 'file' is not allowed; use https"),
        ("img.example/p.png", "scheme '(none)' is not allowed; use https"),
        ("http://img.example/p.png", "plain http is not allowed (fetch.allow_http: false); use https"),
        ("https://user@img.example/p.png", "URLs with user info (user@host) are not allowed"),
        ("https://user:pw@img.example/p.png", "URLs with user info (user@host) are not allowed"),
        ("https://:pw@img.example/p.png", "URLs with user info (user@host) are not allowed"),
        ("https://@img.example/p.png", "URLs with user info (user@host) are not allowed"),
        ("https:///p.png", "URL has no host"),
        ("https://./p.png", "URL has no host"),
        ("https://img.example:99999/p.png", "not a valid URL ("),
        ("https://[::1/p.png", "not a valid URL ("),
        ("https://a..b/p.png", "host 'a..b' is not a valid host name"),
        ("https://a%20b/p.png", "host 'a%20b' is not a valid host name"),
        ("https://-a.example/p.png", "host '-a.example' is not a valid host name"),
        ("https://a.example-/p.png", "host 'a.example-' is not a valid host name"),
        ("https://a\u00a0b/p.png", "is not a valid host name"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ForbiddenHostError) as caught:
        check_url(url, policy())
    assert message in str(caught.value)
    if message.startswith(("scheme", "plain", "URLs", "URL has")):
        assert str(caught.value) == message


def test_http_is_accepted_when_allowed() -> None:
    assert check_url("HTTP://Img.Example/p.png", policy(allow_http=True)) == ("http", "img.example", 80)
    assert check_url("https://img.example/p.png", policy()) == ("https", "img.example", 443)
    assert check_url("https://img.example:8443/", policy()) == ("https", "img.example", 8443)


@pytest.mark.parametrize(
    ("host", "checked"),
    [
        ("bücher.example", "xn--bcher-kva.example"),
        ("a", "a"),
        ("a_b.example", "a_b.example"),
        ("a-b.example", "a-b.example"),
        ("0a.example", "0a.example"),
        ("127.1", "127.1"),  # an address in a legacy spelling is left to the address check
    ],
)
def test_host_names_are_checked_as_dns_sees_them(host: str, checked: str) -> None:
    assert check_url(f"https://{host}/p.png", policy())[1] == checked


def test_a_name_idna_cannot_encode_is_refused() -> None:
    with pytest.raises(ForbiddenHostError, match="is not a valid host name"):
        check_url("https://" + "ü" * 70 + ".example/p.png", policy())


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("anything.example", [], True),
        ("img.example.com", ["example.com", "img.example.com"], True),
        ("img.example.com", ["IMG.Example.COM."], True),
        ("example.com", ["example.com"], True),
        ("img.example.com", ["example.com"], False),
        ("a.cdn.example.com", ["*.cdn.example.com"], True),
        ("a.b.cdn.example.com", ["*.CDN.example.com."], True),
        ("cdn.example.com", ["*.cdn.example.com"], False),
        ("evilcdn.example.com", ["*.cdn.example.com"], False),
        (".cdn.example.com", ["*.cdn.example.com"], False),
        ("x.cdn.example.com.evil", ["*.cdn.example.com"], False),
        ("img.other.com", ["*.example.com", "img.other.com"], True),
        ("img.other.com", ["*.example.com", "x.other.com"], False),
    ],
)
def test_the_whitelist_matches_exactly_or_by_subdomain(host: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


def test_a_host_outside_the_whitelist_is_refused_before_any_lookup() -> None:
    error = refusal("https://img.example/p.png", policy(allowed_domains=["*.cdn.example"]), [])
    assert str(error) == "host 'img.example' is not in fetch.allowed_domains"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_legacy_and_scoped_spellings_are_addresses(host: str, address: str) -> None:
    assert str(literal_address(host)) == address


@pytest.mark.parametrize("host", ["img.example", "1.2.3.4.5", "0x7g.1", "", "fe80::1%"])
def test_names_are_not_addresses(host: str) -> None:
    if host == "fe80::1%":
        assert str(literal_address(host)) == "fe80::1"
        return
    assert literal_address(host) is None


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed_and_every_hop_is_checked_again(status: int) -> None:
    record = run(
        "https://a.example/x/first.png",
        policy(),
        [moved("../y/second.png", status), ok()],
        dns={"a.example": [PUBLIC]},
    )
    assert [send.url for send in sends(record)] == [
        f"https://{PUBLIC}:443/x/first.png",
        f"https://{PUBLIC}:443/y/second.png",
    ]
    assert record.result is not None
    assert record.result.url == "https://a.example/y/second.png"
    assert sum(isinstance(step, Resolve) for step in record.steps) == 2  # the second hop is resolved again


@pytest.mark.parametrize("status", [300, 304, 399])
def test_other_statuses_below_400_are_not_redirects(status: int) -> None:
    record = run(
        "https://a.example/p.png",
        policy(),
        [(Head(status, {"location": "/elsewhere"}), [PNG])],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.url == "https://a.example/p.png"
    assert len(sends(record)) == 1


@pytest.mark.parametrize(
    ("target", "dns", "message"),
    [
        ("https://10.0.0.1/p.png", {}, "address 10.0.0.1 is not a public internet address"),
        (
            "https://inside.example/p.png",
            {"inside.example": ["169.254.169.254"]},
            "address 169.254.169.254 is",
        ),
        ("http://b.example/p.png", {}, "plain http is not allowed"),
        ("https://other.example/p.png", {}, "host 'other.example' is not in fetch.allowed_domains"),
        ("file:///etc/passwd", {}, "scheme 'file' is not allowed"),
    ],
)
def test_a_redirect_hop_is_refused_like_a_first_url(
    target: str, dns: dict[str, list[str]], message: str
) -> None:
    allowed = ["a.example", "b.example", "inside.example", "10.0.0.1"]
    error = refusal(
        "https://a.example/p.png",
        policy(allowed_domains=allowed),
        [moved(target), ok()],
        dns={"a.example": [PUBLIC], **dns},
    )
    assert isinstance(error, ForbiddenHostError)
    assert message in str(error)


def test_redirects_up_to_the_limit_are_followed_and_one_more_is_refused() -> None:
    chain = [moved(f"/hop{n}") for n in range(3)]
    record = run(
        "https://a.example/p.png", policy(max_redirects=3), [*chain, ok()], dns={"a.example": [PUBLIC]}
    )
    assert record.result is not None
    assert record.result.url == "https://a.example/hop2"
    error = refusal(
        "https://a.example/p.png", policy(max_redirects=2), [*chain, ok()], dns={"a.example": [PUBLIC]}
    )
    assert isinstance(error, ForbiddenHostError)
    assert str(error) == "more than 2 redirects"
    error = refusal(
        "https://a.example/p.png", policy(max_redirects=0), [moved("/x"), ok()], dns={"a.example": [PUBLIC]}
    )
    assert str(error) == "more than 0 redirects"


def test_a_redirect_without_a_location_is_refused() -> None:
    for location in (None, ""):
        error = refusal(
            "https://a.example/p.png", policy(), [moved(location, 307)], dns={"a.example": [PUBLIC]}
        )
        assert type(error) is ImageFetchError
        assert str(error) == "redirect 307 without a Location"


# -- the response --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_an_error_status_is_refused(status: int) -> None:
    error = refusal("https://a.example/p.png", policy(), [(Head(status), [PNG])], dns={"a.example": [PUBLIC]})
    assert type(error) is ImageFetchError
    assert str(error) == f"image URL answered HTTP {status}"


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    head = Head(200, {"content-length": "1001"})
    record: list[Step] = []
    with pytest.raises(ImageTooLargeError, match=r"^image is 1,001 bytes; the limit is 1,000$"):
        run(
            "https://a.example/p.png",
            policy(max_bytes=1000),
            [(head, [PNG])],
            dns={"a.example": [PUBLIC]},
            on_step=record.append,
        )
    assert not any(isinstance(step, Receive) for step in record)


@pytest.mark.parametrize(
    "headers",
    [
        {"content-length": "1000"},  # the limit itself
        {"content-length": "x1001"},  # not a number: the body is counted instead
        {"content-length": "5000", "content-encoding": "gzip"},  # compressed: only the decoded size counts
        {"content-length": "5000", "content-encoding": "GZIP"},
    ],
)
def test_a_declared_length_is_refused_only_when_it_is_a_number_over_the_cap_unencoded(
    headers: dict[str, str],
) -> None:
    body = gzip.compress(PNG) if "content-encoding" in headers else PNG
    record = run(
        "https://a.example/p.png",
        policy(max_bytes=1000),
        [(Head(200, headers), [body])],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.data == PNG


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", ""])
def test_identity_declared_lengths_count(encoding: str) -> None:
    head = Head(200, {"content-length": "1001", "content-encoding": encoding})
    with pytest.raises(ImageTooLargeError):
        run("https://a.example/p.png", policy(max_bytes=1000), [(head, [PNG])], dns={"a.example": [PUBLIC]})


@pytest.mark.parametrize("encoding", ["", "identity", " Identity "])
def test_a_plain_body_up_to_the_cap_is_read_and_one_byte_more_is_refused(encoding: str) -> None:
    data = PNG + b"\0" * (1000 - len(PNG))
    headers = {"content-encoding": encoding}
    record = run(
        "https://a.example/p.png",
        policy(max_bytes=1000),
        [ok(data[:500], data[500:], **headers)],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.data == data
    with pytest.raises(
        ImageTooLargeError,
        match=r"^image is larger than the limit of 1,000 bytes \(decoded\); download stopped$",
    ):
        run(
            "https://a.example/p.png",
            policy(max_bytes=1000),
            [ok(data, b"!", **headers)],
            dns={"a.example": [PUBLIC]},
        )


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("GZIP", gzip.compress), ("deflate", _deflate)],
)
def test_compressed_bodies_are_decoded_up_to_the_cap(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    data = PNG + b"\0" * (5000 - len(PNG))
    packed = compress(data)
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    record = run(
        "https://a.example/p.png",
        policy(max_bytes=5000),
        [ok(*chunks, **{"content-encoding": encoding})],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.data == data
    with pytest.raises(ImageTooLargeError, match="larger than the limit of 4,999 bytes"):
        run(
            "https://a.example/p.png",
            policy(max_bytes=4999),
            [ok(packed, **{"content-encoding": encoding})],
            dns={"a.example": [PUBLIC]},
        )


def test_a_compression_bomb_is_cut_after_the_cap_even_within_one_chunk() -> None:
    bomb = gzip.compress(PNG + b"\0" * 10_000_000)
    with pytest.raises(ImageTooLargeError):
        run(
            "https://a.example/p.png",
            policy(max_bytes=2000),
            [ok(bomb, **{"content-encoding": "gzip"})],
            dns={"a.example": [PUBLIC]},
        )


def test_data_after_the_end_of_a_gzip_stream_is_ignored() -> None:
    packed = gzip.compress(PNG) + b"trailing garbage"
    record = run(
        "https://a.example/p.png",
        policy(),
        [ok(packed, b"more", **{"content-encoding": "gzip"})],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.data == PNG


def test_a_corrupt_compressed_body_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match=r"^the compressed body is corrupt$"):
        run(
            "https://a.example/p.png",
            policy(),
            [ok(b"not gzip at all", **{"content-encoding": "gzip"})],
            dns={"a.example": [PUBLIC]},
        )


def test_an_unsupported_encoding_is_refused() -> None:
    error = refusal(
        "https://a.example/p.png", policy(), [ok(**{"content-encoding": "br"})], dns={"a.example": [PUBLIC]}
    )
    assert str(error) == "Content-Encoding 'br' is not supported (identity, gzip, deflate)"


def test_a_body_that_is_not_an_image_is_refused_at_its_first_bytes() -> None:
    html = b"<!DOCTYPE html><html><body>" + b"x" * 100
    seen: list[Step] = []
    with pytest.raises(NotAnImageError) as caught:
        run(
            "https://a.example/page",
            policy(),
            [ok(html[:16], html[16:], b"never read")],
            dns={"a.example": [PUBLIC]},
            on_step=seen.append,
        )
    assert str(caught.value) == (
        "https://a.example/page is not an image: the body is not a JPEG, PNG, WEBP or GIF (judged from its bytes)"
    )
    assert sum(isinstance(step, Receive) for step in seen) == 1  # refused after the first 16 bytes


def test_a_body_shorter_than_sixteen_bytes_is_judged_at_its_end() -> None:
    record = run("https://a.example/g", policy(), [ok(b"GIF89a", b"\x01\x00")], dns={"a.example": [PUBLIC]})
    assert record.result == FetchedImage(b"GIF89a\x01\x00", "image/gif", "https://a.example/g")
    with pytest.raises(NotAnImageError, match=r"^https://a\.example/h is not an image: "):
        run("https://a.example/h", policy(), [ok(b"<html>")], dns={"a.example": [PUBLIC]})
    with pytest.raises(NotAnImageError):
        run("https://a.example/h", policy(), [ok(b"")], dns={"a.example": [PUBLIC]})


def test_the_format_is_judged_from_the_bytes_not_the_headers() -> None:
    jpeg_bytes = b"\xff\xd8\xff" + b"\0" * 40
    record = run(
        "https://a.example/p.png",
        policy(),
        [ok(jpeg_bytes, **{"content-type": "image/png"})],
        dns={"a.example": [PUBLIC]},
    )
    assert record.result is not None
    assert record.result.content_type == "image/jpeg"


# -- the deadline --------------------------------------------------------------------------------


def test_the_deadline_is_total_and_checked_after_the_lookup_and_every_chunk() -> None:
    clock = Clock()
    the_policy = policy(timeout_s=2.5, clock=clock)

    def tick(step: Step) -> None:
        clock.now += 1.0  # every step takes a second

    with pytest.raises(ImageFetchError) as caught:
        run(
            "https://a.example/p.png",
            the_policy,
            [ok(PNG[:10], PNG[10:20], PNG[20:])],
            dns={"a.example": [PUBLIC]},
            on_step=tick,
        )
    assert str(caught.value) == (
        "download took longer than fetch.timeout_s (2.5 s, a total deadline for the whole fetch including "
        "redirects); stopped"
    )


def test_the_deadline_starts_with_the_fetch_and_ends_exactly_at_the_timeout() -> None:
    clock = Clock(now=50.0)
    the_policy = policy(timeout_s=4.0, clock=clock)
    the_policy.start("https://a.example/p.png")
    assert the_policy.deadline == 54.0
    assert the_policy.url == "https://a.example/p.png"
    clock.now = 53.0
    assert the_policy.remaining() == 1.0
    clock.now = 54.0
    with pytest.raises(ImageFetchError, match=r"\(4 s, a total deadline"):
        the_policy.remaining()


def test_a_fetch_within_the_deadline_passes_every_check() -> None:
    clock = Clock()
    the_policy = policy(timeout_s=10.0, clock=clock)

    def tick(step: Step) -> None:
        clock.now += 1.0

    record = run(
        "https://a.example/p.png",
        the_policy,
        [moved("/b"), ok(PNG[:20], PNG[20:])],
        dns={"a.example": [PUBLIC]},
        on_step=tick,
    )
    assert record.result is not None


def test_a_redirect_chain_shares_one_deadline() -> None:
    clock = Clock()
    the_policy = policy(timeout_s=5.0, clock=clock, max_redirects=10)

    def tick(step: Step) -> None:
        if isinstance(step, Send):
            clock.now += 2.0

    with pytest.raises(ImageFetchError, match=r"took longer than fetch\.timeout_s"):
        run(
            "https://a.example/p.png",
            the_policy,
            [moved("/1"), moved("/2"), moved("/3"), moved("/4"), ok()],
            dns={"a.example": [PUBLIC]},
            on_step=tick,
        )


# -- the check alone (a cache hit) and the driver --------------------------------------------------


def test_check_steps_checks_the_url_and_every_address_without_downloading() -> None:
    the_policy = policy(clock=Clock(now=7.0))
    driver = Driver(check_steps("https://a.example/p.png", the_policy))
    assert driver.next() == Resolve("a.example", 443)
    driver.reply = [PUBLIC]
    assert driver.next() is None
    assert (the_policy.url, the_policy.deadline) == ("https://a.example/p.png", 17.0)
    driver = Driver(check_steps("https://a.example/p.png", policy()))
    driver.next()
    driver.reply = [PUBLIC, "127.0.0.1"]
    with pytest.raises(ForbiddenHostError):
        driver.next()
    with pytest.raises(ForbiddenHostError, match="plain http"):
        Driver(check_steps("http://a.example/p.png", policy())).next()
    literal = Driver(check_steps("https://10.0.0.1/p.png", policy()))
    with pytest.raises(ForbiddenHostError, match=r"10\.0\.0\.1"):
        literal.next()


def test_the_driver_has_no_result_before_the_steps_finish() -> None:
    driver = Driver(fetch_steps("https://a.example/p.png", policy()))
    assert driver.next() == Resolve("a.example", 443)
    with pytest.raises(AssertionError, match="the steps have not finished"):
        _ = driver.result


def test_each_fetch_gets_its_own_deadline() -> None:
    clock = Clock()
    first, second = policy(clock=clock), policy(clock=clock)
    first.start("https://a.example/1")
    clock.now += 5
    second.start("https://a.example/2")
    assert (first.deadline, second.deadline) == (110.0, 115.0)


def test_a_scoped_address_is_checked_and_named_without_its_zone() -> None:
    error = refusal(
        "https://a.example/p.png", policy(), [ok()], dns={"a.example": ["8.8.8.8", "fe80::1%eth0"]}
    )
    assert str(error) == "address fe80::1 is not a public internet address"


def test_gzip_means_gzip_not_any_zlib_stream() -> None:
    """Content-Encoding gzip with a zlib (deflate) stream is corrupt: no format guessing."""
    with pytest.raises(NotAnImageError, match=r"^the compressed body is corrupt$"):
        run(
            "https://a.example/p.png",
            policy(),
            [ok(zlib.compress(PNG), **{"content-encoding": "gzip"})],
            dns={"a.example": [PUBLIC]},
        )
    with pytest.raises(NotAnImageError, match=r"^the compressed body is corrupt$"):
        run(
            "https://a.example/p.png",
            policy(),
            [ok(gzip.compress(PNG), **{"content-encoding": "deflate"})],
            dns={"a.example": [PUBLIC]},
        )


def test_a_compression_bomb_never_decodes_much_past_the_cap() -> None:
    """The decoder is asked for at most the room left under the cap: memory stays near the cap even
    when one small chunk expands to 20 MB."""
    bomb = gzip.compress(PNG + b"\0" * 20_000_000, compresslevel=1)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError):
            run(
                "https://a.example/p.png",
                policy(max_bytes=10_000),
                [ok(bomb, **{"content-encoding": "gzip"})],
                dns={"a.example": [PUBLIC]},
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000 + len(bomb)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://a.test/x?sig=1?more", "https://a.test/x?\u2026"),  # cut at the first ?, not the last
        ("https://a.test/x#t=1#more", "https://a.test/x?\u2026"),
        ("https://a.test/x#t=1?sig=2", "https://a.test/x?\u2026"),
        ("?token=abc", "?\u2026"),
        ("#token=abc", "?\u2026"),
        ("https://u:pw@a.test/go/http://b.test/x", "https://a.test/go/http://b.test/x"),
        (
            "https://a.test/users/@me/x.png",
            "https://a.test/users/@me/x.png",
        ),  # an @ in the path is no user info
    ],
)
def test_shown_url_hides_the_query_and_user_info_at_their_first_marker(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_shown_url_cuts_a_long_url_at_300_characters() -> None:
    exact = "https://a.test/" + "x" * 285
    assert len(exact) == 300
    assert shown_url(exact) == exact
    assert shown_url(exact + "y") == exact + "\u2026"
    assert shown_url(exact + "y?sig=1") == exact + "\u2026?\u2026"


TOKEN = "bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # a Telegram bot token's shape


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://api.telegram.test/file/{TOKEN}/photos/file_0.jpg",
            "https://api.telegram.test/file/\u2026/photos/file_0.jpg",
        ),
        (
            "https://hooks.test/services/T0/B0/aB3dE6gH9jK2mN5pQ8sT1vW4",
            "https://hooks.test/services/T0/B0/\u2026",
        ),
        (
            "https://a.test/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c/x.png",
            "https://a.test/\u2026/x.png",
        ),
        (
            "https://a.test/img/123e4567-e89b-12d3-a456-426614174000",
            "https://a.test/img/\u2026",
        ),  # a UUID: hidden too
        (
            "https://a.test/a1b2c3d4e5f6g7h8i9j0",
            "https://a.test/\u2026",
        ),  # 20 characters: the shortest hidden
        ("https://a.test/a1b2c3d4e5f6g7h8i9j", "https://a.test/a1b2c3d4e5f6g7h8i9j"),  # 19: kept
        ("https://a.test/ABCDEFGHIJ0123456789", "https://a.test/\u2026"),  # upper case and digits
        ("https://a.test/abcdefghijABCDEFGHIJ", "https://a.test/\u2026"),  # both cases
        (
            "https://a.test/abcdefghijklmnopqrstuvwxyz",
            "https://a.test/abcdefghijklmnopqrstuvwxyz",
        ),  # one kind: a word
        (
            "https://a.test/IMG_20240101_123456789.jpg",
            "https://a.test/IMG_20240101_123456789.jpg",
        ),  # a file name
        ("https://a.test/screenshot-2024-01-01.webp", "https://a.test/screenshot-2024-01-01.webp"),
        (
            "https://a.test/report.2024-01-01.final.png",
            "https://a.test/report.2024-01-01.final.png",
        ),  # last dot
        ("https://a.test/k/aB3dE6gH9jK2mN5pQ8sT1vW4.x", "https://a.test/k/\u2026"),  # .x is no extension
        ("https://a.test/photo%20of%20a%20cat%202024.png", "https://a.test/photo%20of%20a%20cat%202024.png"),
        (
            "https://a.test/a/b c/aB3dE6gH9jK2mN5pQ8sT1vW4 x",
            "https://a.test/a/b c/aB3dE6gH9jK2mN5pQ8sT1vW4 x",
        ),  # not a token's alphabet
    ],
)
def test_shown_url_hides_a_path_segment_shaped_like_a_credential(url: str, shown: str) -> None:
    """Some services put the secret in the path (Telegram's bot token, a webhook's secret): a log
    must not show it, while file names and words stay readable."""
    assert shown_url(url) == shown
    assert shown_url(url + "?sig=1") == shown + "?\u2026"
