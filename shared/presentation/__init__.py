"""Presentation: how the domain's models are shown to people, beside the commands that show
them. The report model is built in :mod:`shared.domain.report`; here it is drawn as an HTML
page (:mod:`.report_html`, with the SVG timelines of :mod:`.svg` and the look of :mod:`.style`)
and as text for a terminal (:mod:`.report_text`, with the tables of :mod:`.text`).

Pure: models in, strings (or printed lines) out; no I/O beyond ``print``, no clock.
"""
