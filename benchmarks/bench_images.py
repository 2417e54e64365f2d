"""Image intake speed and memory, as ratios against plain baselines measured in the same run.

1. Normalising a 4000×3000 JPEG to fit 2048 px: llmcfg (draft-mode decode) against a plain
   Pillow open + resize + save. Target: at least 3× faster.
2. Vision cache-hit latency: a repeated `LLM.vision` call answered from the diskcache store.
   Target: under 2 ms median (the image decode/resize of the request is included).
3. Fetch memory: a 64 MB body against a 10 MB cap, peak traced memory. Target: O(cap).
Run: python benchmarks/bench_images.py
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import structlog
from PIL import Image

import llmcfg
from llmcfg.images.fetch import ImageFetcher
from llmcfg.images.normalise import normalise
from llmcfg.testing import FakeProvider, use_fake


def photo() -> bytes:
    """A 4000×3000 JPEG with photo-like content: smooth gradients, shapes and sensor noise."""
    from PIL import ImageChops, ImageDraw, ImageFilter

    gradient = Image.linear_gradient("L").resize((4000, 3000))
    image = Image.merge(
        "RGB",
        (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient.rotate(90).resize((4000, 3000))),
    )
    draw = ImageDraw.Draw(image)
    for index in range(40):
        x, y = (index * 97) % 3800, (index * 61) % 2800
        draw.ellipse(
            (x, y, x + 200 + index * 5, y + 150 + index * 3), fill=(index * 6 % 255, 120, 200 - index * 4)
        )
    noise = Image.effect_noise((4000, 3000), 12).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    image = ImageChops.add(image, noise, scale=1.0, offset=-128)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def plain(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((2048, 2048), Image.Resampling.LANCZOS, reducing_gap=None)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def median_ms(function: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_normalise() -> None:
    data = photo()
    result = normalise(data, max_side=2048, model="gemini/gemini-2.0-flash")
    baseline = Image.open(io.BytesIO(plain(data))).size
    ours = median_ms(lambda: normalise(data, max_side=2048, model="gemini/gemini-2.0-flash"), 7)
    theirs = median_ms(lambda: plain(data), 7)
    print(
        f"normalise 4000x3000 JPEG to fit 2048 px: llmcfg {ours:.1f} ms -> {result.width}x{result.height}, "
        f"plain open+resize {theirs:.1f} ms -> {baseline[0]}x{baseline[1]}, speed-up {theirs / ours:.1f}x (target >= 3x)"
    )
    gpt = median_ms(lambda: normalise(data, model="gpt-4o"), 7)
    print(f"normalise the same photo for gpt-4o, detail high (1024x768): {gpt:.1f} ms")


def bench_cache_hit() -> None:
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    with FakeProvider() as fake, tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "llm_config.yaml"
        config.write_text(
            'providers:\n  openai: {api_key: "${OPENAI_API_KEY:-bench}"}\nmodels:\n  gpt4o: {model: openai/gpt-4o}\ncache: {dir: cache}\n'
        )
        llm = llmcfg.LLM(use_fake(llmcfg.load_config(config), fake))
        image = io.BytesIO()
        Image.new("RGB", (800, 600), (10, 20, 30)).save(image, format="PNG")
        data = image.getvalue()
        llm.vision(data, "describe", model="gpt4o")
        hit = median_ms(lambda: llm.vision(data, "describe", model="gpt4o"), 200)
        miss = median_ms(lambda: llm.vision(data, "describe", model="gpt4o", cache=False), 50)
    print(
        f"vision cache hit: median {hit:.2f} ms (target < 2 ms); uncached call to the local stub: {miss:.2f} ms"
    )


def bench_fetch_memory() -> None:
    def body() -> Iterator[bytes]:
        chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * (256 * 1024 - 8)
        for _ in range(256):
            yield chunk

    with FakeProvider() as fake:
        url = fake.serve("/huge.png", body, content_type="image/png")
        fetcher = ImageFetcher(allow_http=True, allow_private_networks=["127.0.0.1/32"], max_size_mb=10)
        tracemalloc.start()
        with contextlib.suppress(llmcfg.ImageTooLargeError):
            fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(
        f"fetch of a 64 MB body with a 10 MB cap: peak traced memory {peak / 2**20:.1f} MB ({peak / (10 * 2**20):.2f}x the cap; the body is 6.4x the cap)"
    )


if __name__ == "__main__":
    bench_normalise()
    bench_cache_hit()
    bench_fetch_memory()
