"""The engine: config, sources, scheduler, state and rules. Never imports Textual."""
