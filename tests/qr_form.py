"""Sending the QR page's form as a phone does: the page first (its signed form id), then the
POST. A POST without a form our page showed is refused (``qr.check_form_id``)."""

import re
from urllib.parse import quote

import requests


def form_id(url: str, window: str, session=None, token: str | None = None) -> str:
    """The form id of the page ``/r/<window>`` (with a follow-up ``token``) as shown now."""
    page = (session or requests).get(f"{url}/r/{quote(window, safe='')}", timeout=10,
                                     params={"t": token} if token else None)
    return re.search(r'name="form_id" value="([^"]+)"', page.text)[1]


def qr_post(url: str, window: str, data, session=None, **kwargs) -> requests.Response:
    """POST ``data`` (a dict) to ``/r/<window>`` with the form id of a page loaded just now."""
    fid = form_id(url, window, session, data.get("t"))
    kwargs.setdefault("timeout", 10)
    return (session or requests).post(f"{url}/r/{quote(window, safe='')}",
                                      data={"form_id": fid, **data}, **kwargs)


def with_form(page_url: str, data: dict, session=None) -> dict:
    """``data`` with the form id of the page at ``page_url`` (``/r/<window>``) loaded now."""
    page = (session or requests).get(page_url, params={"t": data["t"]} if data.get("t") else None,
                                     timeout=10)
    return {"form_id": re.search(r'name="form_id" value="([^"]+)"', page.text)[1], **data}
