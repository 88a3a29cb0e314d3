# The installer's local web page on microdot (PyPI, fetched by the Makefile
# into lib/microdot/): status.py in normal mode (web.enabled), setup_form.py
# in setup mode. Imported only then: with the page off it costs no heap.
