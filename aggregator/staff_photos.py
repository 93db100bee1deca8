"""Staff photos as the kiosks show them, made once at upload (``POST /api/v1/photos``).

A kiosk draws the photo on its badge panel, about 260×400 pixels on a 1024×600 screen and
470×720 on a 1920×1080 one, and keeps it as a texture for the whole day: in memory at full
size under a software renderer, 4 bytes per pixel. A phone photo within the 2 MB upload limit
can be 12 megapixels (48 MB of texture, a third of a kiosk's memory) and is often stored
sideways with an EXIF "rotate me" tag, which Kivy's image loader ignores. So a photo larger
than ``MAX_SIZE`` or carrying such a tag is turned upright, scaled to fit ``MAX_SIZE`` and
re-encoded (which also drops its metadata, a phone's location among it); any other JPEG or
PNG is stored byte for byte. Photos are named by the SHA-256 of the stored bytes, which the
upload answers.

>>> data, kind, info = normalise(open("staff.jpg", "rb").read())   # doctest: +SKIP
>>> info["resized"], info["width"] <= MAX_SIZE[0]                  # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

import hashlib
import io

from sqlalchemy import select, update

from .db import insert_ignore, utcnow
from .errors import BadRequest
from .schema import photos, staff

MAX_SIZE = (600, 800)      # width, height: the badge panel of a 1920×1080 kiosk, with margin
MAX_PIXELS = 40_000_000    # refused before decoding: a small file can declare a huge image
JPEG_QUALITY = 88
_ORIENTATION = 0x0112      # EXIF tag; 1 = upright
_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def normalise(data: bytes) -> tuple[bytes, str, dict]:
    """(bytes to store, content type, facts) for an uploaded photo; ``BadRequest`` naming the
    problem when ``data`` is not a readable JPEG or PNG image of a sane size."""
    from PIL import UnidentifiedImageError  # the server needs Pillow here only

    try:
        return _normalise(data)
    except (BadRequest, MemoryError):
        raise
    except Exception as exc:  # a decoder's failure on uploaded bytes is the upload's fault
        why = ("no image format recognised" if isinstance(exc, UnidentifiedImageError)
               else f"{type(exc).__name__}: {exc}")
        raise BadRequest(f"photo is not a readable JPEG or PNG image ({why})",
                         field="body") from None


def _normalise(data: bytes) -> tuple[bytes, str, dict]:
    from PIL import Image, ImageOps

    # only these two decoders ever see the uploaded bytes; anything else is "not recognised"
    with Image.open(io.BytesIO(data), formats=tuple(_TYPES)) as im:
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise BadRequest(f"photo is {width}×{height} pixels; at most {MAX_PIXELS:,} pixels "
                             f"are accepted (it is shown at most {MAX_SIZE[0]}×{MAX_SIZE[1]})",
                             field="body")
        facts = {"original_width": width, "original_height": height}
        if (width <= MAX_SIZE[0] and height <= MAX_SIZE[1]
                and im.getexif().get(_ORIENTATION, 1) == 1):
            im.load()   # a truncated or corrupt file fails here, not on every kiosk
            return data, _TYPES[im.format], {**facts, "width": width, "height": height,
                                              "resized": False}
        im.draft("RGB", MAX_SIZE)   # a JPEG decodes at 1/2, 1/4 or 1/8 scale when it can
        alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        # converted first: a palette image would be scaled by nearest neighbour
        upright = _eight_bit(ImageOps.exif_transpose(im)).convert("RGBA" if alpha else "RGB")
    upright.thumbnail(MAX_SIZE, Image.LANCZOS)
    out = io.BytesIO()
    if alpha:   # a cut-out portrait keeps its transparency
        upright.save(out, "PNG", optimize=True)
    else:
        upright.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), "image/png" if alpha else "image/jpeg", {
        **facts, "width": upright.width, "height": upright.height, "resized": True}


def _eight_bit(im):
    """A 16-bit greyscale image (a PNG's ``I;16``) scaled to 8 bits; others as they are.
    ``convert("RGB")`` clips 0-65535 at 255, and such a portrait came out all white."""
    if im.mode == "I" or im.mode.startswith("I;16"):
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return im


def shrink_stored(conn) -> dict:
    """Normalise the photos stored before uploads were normalised (``aggregator
    shrink-photos``): each photo that comes out different is stored under its new SHA-256 and
    the staff who showed the old one show the new one (their kiosks fetch it with the next
    config, whose ETag changes). The old rows stay: a kiosk may still hold a config naming
    them. Returns the counts and the photos that could not be read, which are left as they are.
    """
    done = {"checked": 0, "shrunk": 0, "staff_updated": 0, "unreadable": []}
    for (sha,) in conn.execute(select(photos.c.sha256).order_by(photos.c.sha256)).all():
        data = conn.execute(select(photos.c.data).where(photos.c.sha256 == sha)).scalar_one()
        done["checked"] += 1
        try:
            new, kind, facts = normalise(bytes(data))
        except BadRequest as exc:
            done["unreadable"].append({"sha256": sha, "problem": exc.detail})
            continue
        if not facts["resized"]:
            continue
        new_sha = hashlib.sha256(new).hexdigest()
        stored = insert_ignore(conn, photos, [{"sha256": new_sha, "content_type": kind,
                                               "data": new, "created_at": utcnow()}], "sha256")
        moved = conn.execute(update(staff).where(staff.c.photo_sha256 == sha)
                             .values(photo_sha256=new_sha)).rowcount
        done["shrunk"] += bool(stored or moved)   # not again on a second run
        done["staff_updated"] += moved
    return done
