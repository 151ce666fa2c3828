"""Trigger handlers, one blueprint per trigger family. Each decodes its trigger, calls
one service function and returns: no rules live here."""
