"""Caches: responses and images, on diskcache."""
