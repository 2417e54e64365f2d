"""Images in: fetch (SSRF-safe), decode (magic numbers, bomb and truncation checks), normalise
(orientation, resize, re-encode, tiles) and estimate what they cost in tokens."""
