"""Screens of the console: the main console and its dialogs."""
