"""File primitives that behave the same on POSIX and on Windows: atomic replacement under a
durability setting, streamed copies, and read-only files (SMS keeps PCKs read-only)."""
