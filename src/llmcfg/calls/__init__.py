"""Calls: the one call pipeline and the kinds (chat, stream, embed, extract, vision, OCR, imagine) that feed it."""
