"""Photo names and answers are parsed strictly.

Why it matters: ``PhotoCache.valid`` used ``re.match`` with ``^…$``, and ``$`` also matches
before a final newline, so a config naming ``"<sha>\\n"`` passed as a photo name. And
``Answer.json`` parsed with Python's lenient json, which takes ``NaN`` and ``Infinity`` (JSON
has none), unlike the client's own strict parse of the same answers.
"""

from __future__ import annotations

import hashlib

import pytest

from sync.answers import Answer
from sync.photos import PhotoCache

SHA = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize("name", [SHA + "\n", "\n" + SHA, SHA.upper(), SHA[:-1], SHA + "0"])
def test_a_photo_name_must_be_exactly_a_lower_case_sha256(name):
    assert PhotoCache.valid(SHA)
    assert not PhotoCache.valid(name)


@pytest.mark.parametrize("body", [b'{"server_time": NaN}', b'{"x": Infinity}',
                                  b'{"x": -Infinity}', b'{"x": 1e999}'])
def test_an_answer_with_a_number_json_has_not_is_not_json(body):
    assert Answer(200, {"content-type": "application/json"}, body).json() is None
    assert Answer(200, {}, b'{"x": 1.5}').json() == {"x": 1.5}
