"""An HTTP opener that never follows a redirect: a 3xx could lead an https:// request to plain http
(credentials, or an answer we would trust), so urllib raises HTTPError with the 3xx status instead."""

from __future__ import annotations

import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's signature
        return None


OPENER = urllib.request.build_opener(_NoRedirect)
