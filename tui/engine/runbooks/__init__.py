"""Runbooks: Markdown documents listed, rendered, and (later) executed step by step."""
