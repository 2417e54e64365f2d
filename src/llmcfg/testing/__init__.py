"""Offline testing through the real pipeline: a fake provider on 127.0.0.1 and config helpers.

from llmcfg.testing import FakeProvider, use_fake
with FakeProvider() as fake:
    fake.reply("Paris")
    llm = llmcfg.LLM(use_fake(llmcfg.load_config(), fake))
    assert llm.chat("Capital of France?").text == "Paris"
"""

from llmcfg.testing.fake_provider import FakeProvider, RecordedRequest
from llmcfg.testing.pointing import use_fake

__all__ = ["FakeProvider", "RecordedRequest", "use_fake"]
