"""Runbooks: Markdown documents listed, parsed into steps, and executed step by step.

``parse`` (Markdown in, ``model.Runbook`` out) and ``catalog`` (discovery) for both faces;
``executor.RunbookExecutor`` runs steps through the engine's action path, ``run`` keeps
progress on disk, ``report`` renders a run; ``headless`` is ``watchdeck runbook``.
"""
