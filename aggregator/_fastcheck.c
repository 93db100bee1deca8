/* The usual valid event of a batch, checked and turned into rows in C (aggregator._fastcheck).

   The server's CPU per event is what bounds its ingest (docs/benchmarks.md); the Python
   checks of a well-formed event (validation.check_shape's fast path, check_event,
   _rating_ok, ratings.RowMaker, db.driver_time, rollups.tally) cost about twice what this
   code does. It only accepts or defers: any event it is not sure about goes back to the
   Python code (``fallback(i, ev)``), which gives the verdict and the message exactly as
   before, so the Python code stays the reference and the only place that explains a refusal.
   For an accepted event its outputs equal the Python ones, types included
   (tests/aggregator/test_fastcheck.py compares both on tens of thousands of events).
   Optional: when it is not built (no C compiler), the server runs the same checks in Python.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

#define MAX_INT 9223372036854775807LL

/* configuration from setup() */
static PyObject *S_dumps, *S_kwnames, *S_opt, *S_fromiso, *S_nocheck, *S_stars,
    *S_utc_hours, *S_driver_time, *S_flags_json, *S_sqlite, *S_accepted, *S_empty_list_json,
    *S_int4, *S_int5, *S_one, *S_sha256, *S_channels, *S_server_flags;
static long min_year, max_year;
static int configured = 0;

/* interned keys */
static PyObject *K_id, *K_device_id, *K_stream_id, *K_seq, *K_type, *K_device_time,
    *K_boot_id, *K_mono_ns, *K_payload, *K_prev_hash, *K_hash, *K_level, *K_stars, *K_scale,
    *K_channel, *K_window_id, *K_unit_id, *K_staff_id, *K_service_item, *K_invitation_id,
    *K_staff_name, *K_case_no, *K_flags, *K_status, *K_rating, *K_basic_satisfied,
    *K_astimezone, *K_date, *K_isoformat, *K_utcoffset, *K_digest;

static PyObject *STR_FIELDS[7];

/* --- small helpers ------------------------------------------------------------------- */

/* d.get(k) as a borrowed reference or NULL (absent); -1 in *err on an exception */
static inline PyObject *get(PyObject *d, PyObject *k, int *err)
{
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (v == NULL && PyErr_Occurred())
        *err = 1;
    return v;
}

static int is_canonical_uuid(PyObject *s)
{
    if (!PyUnicode_CheckExact(s) || PyUnicode_GET_LENGTH(s) != 36)
        return 0;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < 36; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        }
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* exactly 64 lower-case hex digits (stricter than HEX64.match, which also takes a final \n) */
static int is_hex64(PyObject *s, int *all_zero)
{
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_COMPACT_ASCII(s) ||
        PyUnicode_GET_LENGTH(s) != 64)
        return 0;
    const char *p = (const char *)PyUnicode_DATA(s);
    int zero = 1;
    for (int i = 0; i < 64; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        if (c != '0')
            zero = 0;
    }
    if (all_zero)
        *all_zero = zero;
    return 1;
}

/* exact int in [lo, MAX_INT] */
static int int_in(PyObject *v, long long lo, long long *out)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (x < lo)
        return 0;
    if (out)
        *out = x;
    return 1;
}

static inline int str_max(PyObject *v, Py_ssize_t limit)
{
    return v != NULL && PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) <= limit;
}

/* --- check_shape fast path --------------------------------------------------------------- */

/* 1: check_shape would return at its fast path; 0: let Python decide; -1: error */
static int shape_fast(PyObject *ev)
{
    int err = 0;
    if (!PyDict_CheckExact(ev))
        return 0;
    PyObject *p = get(ev, K_payload, &err);
    if (err) return -1;
    if (p == NULL || !PyDict_CheckExact(p))
        return 0;
    PyObject *id = get(ev, K_id, &err);
    if (err) return -1;
    if (id == NULL || !is_canonical_uuid(id))
        return 0;
    PyObject *seq = get(ev, K_seq, &err);
    if (err) return -1;
    PyObject *mono = get(ev, K_mono_ns, &err);
    if (err) return -1;
    if (!int_in(seq, 1, NULL) || !int_in(mono, 0, NULL))
        return 0;
    for (int k = 0; k < 7; k++) {
        PyObject *v = get(ev, STR_FIELDS[k], &err);
        if (err) return -1;
        if (!str_max(v, 128))
            return 0;
    }
    return 1;
}

/* first_slow_shape(events, start) -> the first index >= start whose shape the fast path does
   not accept, or -1 */
static PyObject *first_slow_shape(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "first_slow_shape(list, start)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    PyObject *events = args[0];
    for (Py_ssize_t i = start; i < PyList_GET_SIZE(events); i++) {
        int r = shape_fast(PyList_GET_ITEM(events, i));
        if (r < 0)
            return NULL;
        if (r == 0)
            return PyLong_FromSsize_t(i);
    }
    return PyLong_FromLong(-1);
}

/* --- _rating_ok ------------------------------------------------------------------------ */

static int opt_str(PyObject *p, PyObject *k, Py_ssize_t limit, int *err)
{
    PyObject *v = get(p, k, err);
    if (*err) return 0;
    return v == NULL || v == Py_None || str_max(v, limit);
}

/* 1 when _rating_ok(p) (or stricter), 0 otherwise, -1 on error */
static int rating_ok(PyObject *p)
{
    int err = 0;
    PyObject *level = get(p, K_level, &err);
    if (err) return -1;
    PyObject *stars = get(p, K_stars, &err);
    if (err) return -1;
    if (level == NULL || !PyUnicode_CheckExact(level) || stars == NULL || !PyLong_CheckExact(stars))
        return 0;
    PyObject *want = PyDict_GetItemWithError(S_stars, level);
    if (want == NULL) {
        if (PyErr_Occurred()) return -1;
        return 0;
    }
    int eq = PyObject_RichCompareBool(want, stars, Py_EQ);
    if (eq < 0) return -1;
    if (!eq) return 0;
    PyObject *scale = get(p, K_scale, &err);
    if (err) return -1;
    PyObject *channel = get(p, K_channel, &err);
    if (err) return -1;
    long long sc = 5;
    if (scale != NULL && !int_in(scale, LLONG_MIN, &sc))
        return 0;
    if (channel != NULL && !int_in(channel, LLONG_MIN, NULL))
        return 0;
    if (channel != NULL) {  /* absent: the hall tablet's channel */
        int in = PySet_Contains(S_channels, channel);
        if (in < 0) return -1;
        if (!in) return 0;
    }
    if (sc != 5) {
        if (sc != 4)
            return 0;
        int b = PyUnicode_Compare(level, K_basic_satisfied);
        if (b == -1 && PyErr_Occurred()) return -1;
        if (b == 0)
            return 0;
    }
    PyObject *window = get(p, K_window_id, &err);
    if (err) return -1;
    if (window == NULL || !PyUnicode_CheckExact(window) || PyUnicode_GET_LENGTH(window) == 0 ||
        PyUnicode_GET_LENGTH(window) > 64)
        return 0;
    if (!opt_str(p, K_unit_id, 64, &err) || !opt_str(p, K_staff_id, 64, &err) ||
        !opt_str(p, K_service_item, 64, &err) || !opt_str(p, K_invitation_id, 64, &err) ||
        !opt_str(p, K_staff_name, 100, &err) || !opt_str(p, K_case_no, 100, &err))
        return err ? -1 : 0;
    PyObject *flags = get(p, K_flags, &err);
    if (err) return -1;
    if (flags != NULL) {
        if (!PyList_CheckExact(flags))
            return 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(flags); i++) {
            PyObject *f = PyList_GET_ITEM(flags, i);
            if (!str_max(f, 32))
                return 0;
            int own = PySet_Contains(S_server_flags, f);  /* the server's own: refused */
            if (own < 0) return -1;
            if (own) return 0;
        }
    }
    return 1;
}

/* --- check_event ------------------------------------------------------------------------ */

typedef struct {
    PyObject *id, *device_id, *stream_id, *seq, *type, *device_time, *boot_id, *mono_ns,
        *payload, *prev_hash, *hash; /* borrowed from ev */
    PyObject *t;            /* new ref */
    PyObject *payload_json; /* new ref */
    int is_rating;
} Ev;

static const char HEX[] = "0123456789abcdef";

static const char *find_last(const char *hay, Py_ssize_t n, const char *needle, Py_ssize_t m)
{
    for (Py_ssize_t i = n - m; i >= 0; i--)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* drop the references event_fast took to the event's values */
static void ev_release(Ev *e)
{
    Py_DECREF(e->id); Py_DECREF(e->device_id); Py_DECREF(e->stream_id); Py_DECREF(e->seq);
    Py_DECREF(e->type); Py_DECREF(e->device_time); Py_DECREF(e->boot_id);
    Py_DECREF(e->mono_ns); Py_DECREF(e->payload); Py_DECREF(e->prev_hash);
    Py_DECREF(e->hash);
}

/* 1: check_event would return (None, e->payload_json, e->t), with e holding references to
   the event's values; 0: defer (no references held); -1: error */
static int event_fast(PyObject *ev, PyObject *device_id, PyObject *uuids, Ev *e)
{
    int err = 0;
    e->t = e->payload_json = NULL;
    if (!PyDict_CheckExact(ev) || PyDict_GET_SIZE(ev) != 11)
        return 0;
#define FIELD(name) do { e->name = get(ev, K_##name, &err); if (err) return -1; \
                         if (e->name == NULL) return 0; } while (0)
    FIELD(id); FIELD(device_id); FIELD(stream_id); FIELD(seq); FIELD(type);
    FIELD(device_time); FIELD(boot_id); FIELD(mono_ns); FIELD(payload); FIELD(prev_hash);
    FIELD(hash);
#undef FIELD
    /* own them: Python code runs before they are used (driver_time, json.dumps of flags) */
    PyObject **own[11] = {&e->id, &e->device_id, &e->stream_id, &e->seq, &e->type,
                          &e->device_time, &e->boot_id, &e->mono_ns, &e->payload,
                          &e->prev_hash, &e->hash};
    for (int k = 0; k < 11; k++) Py_INCREF(*own[k]);
    /* all 11 keys present in an 11-key dict: ev.keys() == _EVENT_KEYS */
    if (!PyUnicode_CheckExact(e->id) || !PyUnicode_CheckExact(e->device_id) ||
        !PyUnicode_CheckExact(e->stream_id) || !PyUnicode_CheckExact(e->type) ||
        !PyUnicode_CheckExact(e->device_time) || !PyUnicode_CheckExact(e->boot_id) ||
        !PyDict_CheckExact(e->payload))
        goto defer;
    long long seq;
    if (!int_in(e->seq, 1, &seq) || !int_in(e->mono_ns, 0, NULL))
        goto defer;
    /* device */
    int r = PyUnicode_Compare(e->device_id, device_id);
    if (r == -1 && PyErr_Occurred()) goto error;
    if (r != 0) goto defer;
    /* stream id, with the batch's cache */
    PyObject *ok = PyDict_GetItemWithError(uuids, e->stream_id);
    if (ok == NULL) {
        if (PyErr_Occurred()) goto error;
        if (!is_canonical_uuid(e->stream_id))
            goto defer;
        if (PyDict_SetItem(uuids, e->stream_id, Py_True) < 0) goto error;
    }
    else if (ok != Py_True)
        goto defer;
    /* type */
    r = PyUnicode_Compare(e->type, K_rating);
    if (r == -1 && PyErr_Occurred()) goto error;
    e->is_rating = (r == 0);
    if (!e->is_rating) {
        r = PySet_Contains(S_nocheck, e->type);
        if (r < 0) goto error;
        if (!r) goto defer;
    }
    /* device time */
    if (PyUnicode_GET_LENGTH(e->device_time) > 64)
        goto defer;
    PyObject *t = PyObject_CallOneArg(S_fromiso, e->device_time);
    if (t == NULL) {
        PyErr_Clear();
        goto defer;
    }
    if (!PyDateTime_CheckExact(t) || PyDateTime_DATE_GET_TZINFO(t) == Py_None ||
        PyDateTime_GET_YEAR(t) < min_year || PyDateTime_GET_YEAR(t) > max_year) {
        Py_DECREF(t);
        goto defer;
    }
    e->t = t;
    /* prev_hash, genesis */
    int zero = 0;
    if (!is_hex64(e->prev_hash, &zero))
        goto defer;
    if (seq == 1 && !zero)
        goto defer;
    /* hash */
    if (!is_hex64(e->hash, NULL))
        goto defer;
    /* orjson's sorted dump of the whole event; the body without "hash" is the same bytes
       without ',"hash":"<64 hex>"' (only boot_id, device_id and device_time, strings, sort
       before it, and a ',"' cannot occur inside a JSON string), so it is hashed in two pieces
       instead of dumping a copy of the event */
    PyObject *callargs[2] = {ev, S_opt};
    PyObject *raw = PyObject_Vectorcall(S_dumps, callargs, 1, S_kwnames);
    if (raw == NULL) {
        PyErr_Clear();
        goto defer;
    }
    if (!PyBytes_CheckExact(raw)) { Py_DECREF(raw); goto defer; }
    const char *rp = PyBytes_AS_STRING(raw);
    Py_ssize_t rn = PyBytes_GET_SIZE(raw);
    const char *h = memmem(rp, rn, ",\"hash\":\"", 9);
    if (h == NULL || (rp + rn) - h < 9 + 64 + 1 + 6 || h[9 + 64] != '"' ||
        memcmp(h + 9 + 64 + 1, ",\"id\":", 6) != 0) {
        Py_DECREF(raw);
        goto defer;
    }
    const char *want = (const char *)PyUnicode_DATA(e->hash);
    if (memcmp(h + 9, want, 64) != 0) { Py_DECREF(raw); goto defer; }
    /* hashlib.sha256(the dump without the hash member).digest() */
    Py_ssize_t cut = 9 + 64 + 1, head = h - rp;
    PyObject *body = PyBytes_FromStringAndSize(NULL, rn - cut);
    if (body == NULL) { Py_DECREF(raw); goto error; }
    memcpy(PyBytes_AS_STRING(body), rp, head);
    memcpy(PyBytes_AS_STRING(body) + head, h + cut, rn - head - cut);
    PyObject *hasher = PyObject_CallOneArg(S_sha256, body);
    Py_DECREF(body);
    PyObject *md = hasher ? PyObject_CallMethodNoArgs(hasher, K_digest) : NULL;
    Py_XDECREF(hasher);
    if (md == NULL) { Py_DECREF(raw); goto error; }
    if (!PyBytes_CheckExact(md) || PyBytes_GET_SIZE(md) != 32) {
        Py_DECREF(md); Py_DECREF(raw); goto defer;
    }
    const unsigned char *mdp = (const unsigned char *)PyBytes_AS_STRING(md);
    for (int i = 0; i < 32; i++) {
        if (want[2 * i] != HEX[mdp[i] >> 4] || want[2 * i + 1] != HEX[mdp[i] & 15]) {
            Py_DECREF(md);
            Py_DECREF(raw);
            goto defer;
        }
    }
    Py_DECREF(md);
    if (memmem(rp, rn, "\\u0000", 6) != NULL) { Py_DECREF(raw); goto defer; }
    const char *a = memmem(rp, rn, ",\"payload\":", 11);
    const char *b = find_last(rp, rn, ",\"prev_hash\":", 13);
    if (a == NULL || b == NULL) { Py_DECREF(raw); goto defer; }
    a += 11;
    PyObject *pj = PyUnicode_DecodeUTF8(a, b > a ? b - a : 0, NULL);
    Py_DECREF(raw);
    if (pj == NULL) { PyErr_Clear(); goto defer; }
    e->payload_json = pj;
    if (e->is_rating) {
        r = rating_ok(e->payload);
        if (r < 0) goto error;
        if (!r) goto defer;
    }
    return 1;
defer:
    Py_CLEAR(e->t);
    Py_CLEAR(e->payload_json);
    ev_release(e);
    return 0;
error:
    Py_CLEAR(e->t);
    Py_CLEAR(e->payload_json);
    ev_release(e);
    return -1;
}

/* --- RowMaker / driver_time ------------------------------------------------------------- */

typedef struct {
    PyObject *device_id, *unit_id, *now, *skew, *tz, *server_time;
    PyObject *boot_skews;  /* NULL, or boot id -> timedelta: the skew of each measured boot */
    int skew_true;
    int pg;     /* PostgreSQL: times go to the driver as datetimes (db.driver_time) */
    int fixed;  /* now, skew and tz known in microseconds below */
    long long now_us, skew_us, tz_us;
} Maker;

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static long long td_us(PyObject *td)
{
    return ((long long)PyDateTime_DELTA_GET_DAYS(td) * 86400 +
            PyDateTime_DELTA_GET_SECONDS(td)) * 1000000LL +
           PyDateTime_DELTA_GET_MICROSECONDS(td);
}

/* UTC microseconds since 1970 of an aware datetime whose tzinfo is a datetime.timezone
   (and, when ``off_out`` is given, its UTC offset in microseconds); 0 when it is not of that
   form */
static int utc_us(PyObject *t, long long *out, long long *off_out)
{
    if (!PyDateTime_CheckExact(t)) return 0;
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(t);
    if (tz == Py_None || Py_TYPE(tz) != Py_TYPE(PyDateTime_TimeZone_UTC)) return 0;
    PyObject *off = PyObject_CallMethodOneArg(tz, K_utcoffset, Py_None);
    if (off == NULL) { PyErr_Clear(); return 0; }
    if (!PyDelta_CheckExact(off)) { Py_DECREF(off); return 0; }
    long long o = td_us(off);
    Py_DECREF(off);
    long long local = (days_from_civil(PyDateTime_GET_YEAR(t), PyDateTime_GET_MONTH(t),
                                       PyDateTime_GET_DAY(t)) * 86400LL +
                       PyDateTime_DATE_GET_HOUR(t) * 3600 + PyDateTime_DATE_GET_MINUTE(t) * 60 +
                       PyDateTime_DATE_GET_SECOND(t)) * 1000000LL +
                      PyDateTime_DATE_GET_MICROSECOND(t);
    *out = local - o;
    if (off_out) *off_out = o;
    return 1;
}

static const long long MIN_US = -62135596800000000LL;  /* 0001-01-01T00:00 UTC */
static const long long MAX_US = 253402300799999999LL;  /* 9999-12-31T23:59:59.999999 UTC */

/* RowMaker's day, when.astimezone(tz).date().isoformat(), worked out in C for the usual
   case (``skew_us``: the event's skew); NULL without an exception when the caller should do
   it the Python way. ``when_us``: RowMaker's ``when`` in UTC microseconds (clamped to server
   time: ``*clamped``), ``t_off_us``: the UTC offset of ``t``, for rated_at */
static PyObject *local_day(Maker *m, PyObject *t, long long skew_us, long long *when_us,
                           long long *t_off_us, int *clamped)
{
    if (!m->fixed) return NULL;
    long long tu, wu;
    if (!utc_us(t, &tu, t_off_us)) return NULL;
    /* t - skew keeps t's fields within range only if the local fields stay in range: be
       conservative, anything near the limits goes the Python way */
    if (tu < MIN_US + 2 * 86400000000LL || tu > MAX_US - 2 * 86400000000LL) return NULL;
    if (skew_us < -86400000000LL * 365 || skew_us > 86400000000LL * 365) return NULL;
    wu = tu - skew_us;
    if (wu < MIN_US + 2 * 86400000000LL || wu > MAX_US - 2 * 86400000000LL) return NULL;
    *clamped = wu > m->now_us;
    if (*clamped) wu = m->now_us;
    *when_us = wu;
    long long lu = wu + m->tz_us;
    long long days = lu >= 0 ? lu / 86400000000LL : -((-lu + 86400000000LL - 1) / 86400000000LL);
    long long y; unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 1 || y > 9999) return NULL;
    char buf[32];
    snprintf(buf, sizeof buf, "%04lld-%02u-%02u", y, mo, d);
    return PyUnicode_FromStringAndSize(buf, 10);
}

/* driver_time("sqlite", t, text) */
static PyObject *sqlite_time(PyObject *t, PyObject *text)
{
    if (PyUnicode_GET_LENGTH(text) == 32) {
        int kind = PyUnicode_KIND(text);
        const void *d = PyUnicode_DATA(text);
#define CH(i) PyUnicode_READ(kind, d, i)
        if (CH(19) == '.' && CH(29) == ':' && CH(30) == '0' && CH(31) == '0' && CH(13) == ':'
            && CH(16) == ':') {
#undef CH
            PyObject *k1 = PyUnicode_Substring(text, 0, 13);
            if (k1 == NULL) return NULL;
            PyObject *k2 = PyUnicode_Substring(text, 26, 29);
            if (k2 == NULL) { Py_DECREF(k1); return NULL; }
            PyObject *key = PyUnicode_Concat(k1, k2);
            Py_DECREF(k1);
            Py_DECREF(k2);
            if (key == NULL) return NULL;
            PyObject *head = PyDict_GetItemWithError(S_utc_hours, key);
            Py_DECREF(key);
            if (head != NULL && PyUnicode_CheckExact(head)) {
                Py_INCREF(head);
                PyObject *tail = PyUnicode_Substring(text, 13, 26);
                PyObject *res = tail ? PyUnicode_Concat(head, tail) : NULL;
                Py_XDECREF(tail);
                Py_DECREF(head);
                return res;
            }
            if (PyErr_Occurred()) return NULL;
        }
    }
    PyObject *args[3] = {S_sqlite, t, text};
    return PyObject_Vectorcall(S_driver_time, args, 3, NULL);
}

/* floor division of microseconds into (days since 1970, microseconds into that day) */
static void split_us(long long us, long long *days, long long *in_day)
{
    *days = us >= 0 ? us / 86400000000LL : -((-us + 86400000000LL - 1) / 86400000000LL);
    *in_day = us - *days * 86400000000LL;
}

static inline void put_digits(Py_UCS1 *p, long long v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (Py_UCS1)('0' + v % 10);
        v /= 10;
    }
}

/* driver_time("sqlite", when) of a time given in UTC microseconds within years 1-9999:
   "YYYY-MM-DD HH:MM:SS.ffffff" (isoformat(" ", "microseconds") of its naive UTC), written
   directly instead of making a datetime and formatting it */
static PyObject *sqlite_us(long long us)
{
    long long days, in_day, y;
    unsigned mo, d;
    split_us(us, &days, &in_day);
    civil_from_days(days, &y, &mo, &d);
    PyObject *out = PyUnicode_New(26, 127);
    if (out == NULL) return NULL;
    Py_UCS1 *p = PyUnicode_1BYTE_DATA(out);
    long long secs = in_day / 1000000;
    put_digits(p, y, 4); p[4] = '-'; put_digits(p + 5, mo, 2); p[7] = '-';
    put_digits(p + 8, d, 2); p[10] = ' '; put_digits(p + 11, secs / 3600, 2); p[13] = ':';
    put_digits(p + 14, secs / 60 % 60, 2); p[16] = ':'; put_digits(p + 17, secs % 60, 2);
    p[19] = '.'; put_digits(p + 20, in_day % 1000000, 6);
    return out;
}

/* t - skew as Python makes it (t's tzinfo, fold 0), from its UTC microseconds ``us`` and
   t's offset */
static PyObject *aware_us(PyObject *t, long long us, long long off_us)
{
    long long days, in_day, y;
    unsigned mo, d;
    split_us(us + off_us, &days, &in_day);
    civil_from_days(days, &y, &mo, &d);
    long long secs = in_day / 1000000;
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        (int)y, (int)mo, (int)d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
        (int)(in_day % 1000000), PyDateTime_DATE_GET_TZINFO(t), PyDateTimeAPI->DateTimeType);
}

static PyObject *make_row(Maker *m, Ev *e)
{
    int err = 0;
    PyObject *p = e->payload;
    PyObject *when = NULL, *tmp, *date, *day, *flags_json, *dtime, *rated, *row = NULL;
    /* the skew of the event's boot when it was measured (RowMaker's boot_skews), else m->skew */
    PyObject *skew = m->skew;
    long long skew_us = m->skew_us;
    int skew_true = m->skew_true;
    if (m->boot_skews != NULL) {
        PyObject *s = PyDict_GetItemWithError(m->boot_skews, e->boot_id);
        if (s == NULL && PyErr_Occurred()) return NULL;
        if (s != NULL) {
            if (!PyDelta_CheckExact(s)) {
                PyErr_SetString(PyExc_TypeError, "run: a boot's skew is not a timedelta");
                return NULL;
            }
            skew = s;
            skew_us = td_us(s);
            skew_true = skew_us != 0;
        }
    }
    long long when_us = 0, t_off_us = 0;
    int clamped = 0;
    day = local_day(m, e->t, skew_us, &when_us, &t_off_us, &clamped);
    if (day == NULL) {
        if (PyErr_Occurred()) return NULL;
        /* the Python way (an unusual tzinfo, a date near the limits: raises as Python does) */
        if (skew_true) {
            when = PyNumber_Subtract(e->t, skew);
            if (when == NULL) return NULL;
        }
        else {
            when = Py_NewRef(e->t);
        }
        int gt = PyObject_RichCompareBool(when, m->now, Py_GT);
        if (gt < 0) { Py_DECREF(when); return NULL; }
        if (gt) Py_SETREF(when, Py_NewRef(m->now));
        clamped = gt;
        tmp = PyObject_CallMethodOneArg(when, K_astimezone, m->tz);
        if (tmp == NULL) { Py_DECREF(when); return NULL; }
        date = PyObject_CallMethodNoArgs(tmp, K_date);
        Py_DECREF(tmp);
        if (date == NULL) { Py_DECREF(when); return NULL; }
        day = PyObject_CallMethodNoArgs(date, K_isoformat);
        Py_DECREF(date);
        if (day == NULL) { Py_DECREF(when); return NULL; }
    }

    PyObject *flags = get(p, K_flags, &err);
    if (err) { Py_DECREF(day); Py_XDECREF(when); return NULL; }
    int has_flags = flags != NULL && PyList_GET_SIZE(flags) > 0;  /* rating_ok: a list */
    if (has_flags) {
        flags_json = PyObject_CallOneArg(S_flags_json, flags);
        if (flags_json == NULL) { Py_DECREF(day); Py_XDECREF(when); return NULL; }
    }
    else {
        flags_json = Py_NewRef(S_empty_list_json);
    }
    dtime = m->pg ? Py_NewRef(e->t) : sqlite_time(e->t, e->device_time);
    if (dtime == NULL) {
        Py_DECREF(day); Py_DECREF(flags_json); Py_XDECREF(when);
        return NULL;
    }
    /* rated_at (RowMaker): server time when clamped; the device time's driver form when no
       skew moved it; else the corrected time, from its microseconds when known here */
    if (clamped)
        rated = Py_NewRef(m->server_time);
    else if (!skew_true)
        rated = Py_NewRef(dtime);
    else if (when == NULL)
        rated = m->pg ? aware_us(e->t, when_us, t_off_us) : sqlite_us(when_us);
    else if (m->pg)
        rated = Py_NewRef(when);
    else {
        PyObject *args[2] = {S_sqlite, when};
        rated = PyObject_Vectorcall(S_driver_time, args, 2, NULL);
    }
    Py_XDECREF(when);
    if (rated == NULL) {
        Py_DECREF(day); Py_DECREF(flags_json); Py_DECREF(dtime);
        return NULL;
    }

    PyObject *window = get(p, K_window_id, &err);
    PyObject *staff = get(p, K_staff_id, &err);
    PyObject *staff_name = get(p, K_staff_name, &err);
    PyObject *item = get(p, K_service_item, &err);
    PyObject *case_no = get(p, K_case_no, &err);
    PyObject *inv = get(p, K_invitation_id, &err);
    PyObject *channel = get(p, K_channel, &err);
    PyObject *level = get(p, K_level, &err);
    PyObject *stars = get(p, K_stars, &err);
    PyObject *scale = get(p, K_scale, &err);
    if (err) goto done;
#define OR_NONE(x) ((x) ? (x) : Py_None)
    /* the unit is the server's (m->unit_id), never the payload's (RowMaker) */
    row = PyTuple_Pack(24, e->id, m->device_id, window, m->unit_id, OR_NONE(staff),
                       OR_NONE(staff_name), OR_NONE(item), OR_NONE(case_no), OR_NONE(inv),
                       channel ? channel : S_int4, level, stars, scale ? scale : S_int5,
                       Py_None, Py_None, Py_None, Py_None, Py_False, dtime, m->server_time,
                       day, flags_json, has_flags ? Py_True : Py_False, rated);
#undef OR_NONE
done:
    Py_DECREF(day);
    Py_DECREF(flags_json);
    Py_DECREF(dtime);
    Py_DECREF(rated);
    return row;
}

/* --- the batch loop ---------------------------------------------------------------------- */

/* run(events, device_id, batch_id, server_time, late, uuids, pause, fallback,
       problems, times, event_rows, answers, late_list, flagged, rating_rows,
       rm_device_id, rm_unit_id, now, skew, tz, rm_server_time, postgresql, boot_skews)
   -> how many events went to ``fallback``; ``boot_skews``: None or RowMaker's dict */
static PyObject *run(PyObject *self, PyObject *const *a, Py_ssize_t nargs)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_fastcheck.setup() was not called");
        return NULL;
    }
    if (nargs != 23 || !PyList_CheckExact(a[0]) || !PyUnicode_CheckExact(a[1]) ||
        !PyDict_CheckExact(a[5]) || !PyList_CheckExact(a[8]) || !PyDict_CheckExact(a[9]) ||
        !PyDict_CheckExact(a[10]) || !PyDict_CheckExact(a[11]) || !PyList_CheckExact(a[12]) ||
        !PyList_CheckExact(a[13]) || !PyDict_CheckExact(a[14]) ||
        (a[22] != Py_None && !PyDict_CheckExact(a[22]))) {
        PyErr_SetString(PyExc_TypeError, "run: bad arguments");
        return NULL;
    }
    PyObject *events = a[0], *device_id = a[1], *batch_id = a[2], *server_time = a[3],
             *late = a[4], *uuids = a[5], *pause = a[6], *fallback = a[7], *problems = a[8],
             *times = a[9], *event_rows = a[10], *answers = a[11], *late_list = a[12],
             *flagged = a[13], *rating_rows = a[14];
    Maker m = {a[15], a[16], a[17], a[18], a[19], a[20], a[22] == Py_None ? NULL : a[22],
               0, 0, 0, 0, 0, 0};
    m.pg = PyObject_IsTrue(a[21]);
    if (m.pg < 0) return NULL;
    m.skew_true = PyObject_IsTrue(m.skew);
    if (m.skew_true < 0) return NULL;
    if (PyDelta_CheckExact(m.skew) && Py_TYPE(m.tz) == Py_TYPE(PyDateTime_TimeZone_UTC) &&
        utc_us(m.now, &m.now_us, NULL)) {
        PyObject *off = PyObject_CallMethodOneArg(m.tz, K_utcoffset, Py_None);
        if (off == NULL) return NULL;
        if (PyDelta_CheckExact(off)) {
            m.tz_us = td_us(off);
            m.skew_us = td_us(m.skew);
            m.fixed = 1;
        }
        Py_DECREF(off);
    }
    Py_ssize_t deferred = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
        if (!(i & 15)) {
            PyObject *r = PyObject_CallNoArgs(pause);
            if (r == NULL) return NULL;
            Py_DECREF(r);
        }
        PyObject *ev = PyList_GET_ITEM(events, i);
        Py_INCREF(ev);
        PyObject *I = PyLong_FromSsize_t(i);
        if (I == NULL) { Py_DECREF(ev); return NULL; }
        Ev e;
        int ok = event_fast(ev, device_id, uuids, &e);
        if (ok < 0) goto fail;
        if (ok == 0) {
            deferred++;
            PyObject *args[2] = {I, ev};
            PyObject *r = PyObject_Vectorcall(fallback, args, 2, NULL);
            if (r == NULL) goto fail;
            Py_DECREF(r);
            Py_DECREF(I);
            Py_DECREF(ev);
            continue;
        }
        if (PyList_Append(problems, Py_None) < 0) goto fail_e;
        if (PyDict_SetItem(times, I, e.t) < 0) goto fail_e;
        PyObject *row = PyTuple_Pack(13, e.id, device_id, e.stream_id, e.seq, e.type,
                                     e.device_time, e.boot_id, e.mono_ns, e.payload_json,
                                     e.prev_hash, e.hash, batch_id, server_time);
        if (row == NULL) goto fail_e;
        {
            int rc = PyDict_SetItem(event_rows, I, row);
            Py_DECREF(row);
            if (rc < 0) goto fail_e;
        }
        PyObject *ans = _PyDict_NewPresized(3);
        if (ans == NULL) goto fail_e;
        if (PyDict_SetItem(ans, K_id, e.id) < 0 || PyDict_SetItem(ans, K_seq, e.seq) < 0 ||
            PyDict_SetItem(ans, K_status, S_accepted) < 0 ||
            PyDict_SetItem(answers, I, ans) < 0) {
            Py_DECREF(ans);
            goto fail_e;
        }
        Py_DECREF(ans);
        int gt = PyObject_RichCompareBool(e.t, late, Py_GT);
        if (gt < 0) goto fail_e;
        if (gt && PyList_Append(late_list, I) < 0) goto fail_e;
        if (e.is_rating) {
            PyObject *rrow = make_row(&m, &e);
            if (rrow == NULL) goto fail_e;
            int rc = PyDict_SetItem(rating_rows, I, rrow);
            Py_DECREF(rrow);
            if (rc < 0) goto fail_e;
            int err = 0;
            PyObject *flags = get(e.payload, K_flags, &err);
            if (err) goto fail_e;
            if (flags != NULL && PyList_GET_SIZE(flags) > 0 && PyList_Append(flagged, I) < 0)
                goto fail_e;
        }
        Py_DECREF(e.t);
        Py_DECREF(e.payload_json);
        ev_release(&e);
        Py_DECREF(I);
        Py_DECREF(ev);
        continue;
    fail_e:
        Py_DECREF(e.t);
        Py_DECREF(e.payload_json);
        ev_release(&e);
    fail:
        Py_DECREF(I);
        Py_DECREF(ev);
        return NULL;
    }
    return PyLong_FromSsize_t(deferred);
}

/* tally(rating_rows) -> rollups.tally(map(counted, rating_rows.values())), or None when a row
   is not of the usual form (the caller then uses Python) */
static PyObject *norm(PyObject *v)
{   /* x or "" for None / str */
    if (v == Py_None || (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0))
        return PyUnicode_New(0, 0);
    if (PyUnicode_CheckExact(v))
        return Py_NewRef(v);
    return NULL;
}

static PyObject *tally(PyObject *self, PyObject *rows)
{
    if (!PyDict_CheckExact(rows)) {
        PyErr_SetString(PyExc_TypeError, "tally(dict)");
        return NULL;
    }
    PyObject *acc = PyDict_New();
    if (acc == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *row;
    while (PyDict_Next(rows, &pos, &k, &row)) {
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 24) goto bail;
        PyObject *day = PyTuple_GET_ITEM(row, 20), *window = PyTuple_GET_ITEM(row, 2),
                 *level = PyTuple_GET_ITEM(row, 10), *fl = PyTuple_GET_ITEM(row, 22),
                 *stars = PyTuple_GET_ITEM(row, 11), *inv = PyTuple_GET_ITEM(row, 8);
        if (!PyLong_CheckExact(stars) || (fl != Py_True && fl != Py_False) ||
            !(inv == Py_None || PyUnicode_CheckExact(inv)))
            goto bail;
        PyObject *unit = norm(PyTuple_GET_ITEM(row, 3));
        PyObject *staff = norm(PyTuple_GET_ITEM(row, 4));
        PyObject *item = norm(PyTuple_GET_ITEM(row, 6));
        if (unit == NULL || staff == NULL || item == NULL) {
            Py_XDECREF(unit); Py_XDECREF(staff); Py_XDECREF(item);
            goto bail;
        }
        PyObject *one = PyLong_FromLong(fl == Py_True ? 1 : 0);
        PyObject *key = one ? PyTuple_Pack(7, day, window, unit, staff, item, level, one) : NULL;
        Py_XDECREF(one); Py_DECREF(unit); Py_DECREF(staff); Py_DECREF(item);
        if (key == NULL) goto error;
        PyObject *m = PyDict_GetItemWithError(acc, key);
        if (m == NULL) {
            if (PyErr_Occurred()) { Py_DECREF(key); goto error; }
            m = Py_BuildValue("[iii]", 0, 0, 0);
            if (m == NULL || PyDict_SetItem(acc, key, m) < 0) {
                Py_XDECREF(m); Py_DECREF(key); goto error;
            }
            Py_DECREF(m);  /* acc holds it */
        }
        Py_DECREF(key);
        int invited = inv != Py_None && PyUnicode_GET_LENGTH(inv) > 0;
        PyObject *adds[3] = {NULL, stars, NULL};
        for (int j = 0; j < 3; j++) {
            if (j == 2 && !invited) break;
            PyObject *old = PyList_GET_ITEM(m, j);
            PyObject *nv = j == 1 ? PyNumber_Add(old, adds[1])
                                  : PyNumber_Add(old, S_one);
            if (nv == NULL) goto error;
            PyList_SetItem(m, j, nv);  /* steals nv, drops old */
        }
    }
    return acc;
bail:
    Py_DECREF(acc);
    Py_RETURN_NONE;
error:
    Py_DECREF(acc);
    return NULL;
}

/* setup(dumps, option, fromisoformat, nocheck_types, stars, utc_hours, driver_time,
         flags_json, accepted, sha256, channels, min_year, max_year, server_flags) */
static PyObject *setup(PyObject *self, PyObject *const *a, Py_ssize_t nargs)
{
    if (nargs != 14) {
        PyErr_SetString(PyExc_TypeError, "setup takes 14 arguments");
        return NULL;
    }
    if (!PyFrozenSet_Check(a[3]) || !PyDict_Check(a[4]) || !PyDict_CheckExact(a[5]) ||
        !PyFrozenSet_Check(a[10]) || !PyFrozenSet_Check(a[13])) {
        PyErr_SetString(PyExc_TypeError, "setup: bad arguments");
        return NULL;
    }
    Py_XSETREF(S_dumps, Py_NewRef(a[0]));
    Py_XSETREF(S_opt, Py_NewRef(a[1]));
    Py_XSETREF(S_fromiso, Py_NewRef(a[2]));
    Py_XSETREF(S_nocheck, Py_NewRef(a[3]));
    Py_XSETREF(S_stars, Py_NewRef(a[4]));
    Py_XSETREF(S_utc_hours, Py_NewRef(a[5]));
    Py_XSETREF(S_driver_time, Py_NewRef(a[6]));
    Py_XSETREF(S_flags_json, Py_NewRef(a[7]));
    Py_XSETREF(S_accepted, Py_NewRef(a[8]));
    Py_XSETREF(S_sha256, Py_NewRef(a[9]));
    Py_XSETREF(S_channels, Py_NewRef(a[10]));
    Py_XSETREF(S_server_flags, Py_NewRef(a[13]));
    min_year = PyLong_AsLong(a[11]);
    max_year = PyLong_AsLong(a[12]);
    if (PyErr_Occurred()) return NULL;
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"first_slow_shape", (PyCFunction)(void (*)(void))first_slow_shape, METH_FASTCALL, NULL},
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL, NULL},
    {"tally", (PyCFunction)tally, METH_O, NULL},
    {"setup", (PyCFunction)(void (*)(void))setup, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastcheck(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
#define INTERN(var, s) if (!(var = PyUnicode_InternFromString(s))) return NULL
    INTERN(K_id, "id"); INTERN(K_device_id, "device_id"); INTERN(K_stream_id, "stream_id");
    INTERN(K_seq, "seq"); INTERN(K_type, "type"); INTERN(K_device_time, "device_time");
    INTERN(K_boot_id, "boot_id"); INTERN(K_mono_ns, "mono_ns"); INTERN(K_payload, "payload");
    INTERN(K_prev_hash, "prev_hash"); INTERN(K_hash, "hash"); INTERN(K_level, "level");
    INTERN(K_stars, "stars"); INTERN(K_scale, "scale"); INTERN(K_channel, "channel");
    INTERN(K_window_id, "window_id"); INTERN(K_unit_id, "unit_id");
    INTERN(K_staff_id, "staff_id"); INTERN(K_service_item, "service_item");
    INTERN(K_invitation_id, "invitation_id"); INTERN(K_staff_name, "staff_name");
    INTERN(K_case_no, "case_no"); INTERN(K_flags, "flags"); INTERN(K_status, "status");
    INTERN(K_rating, "rating"); INTERN(K_basic_satisfied, "basic_satisfied");
    INTERN(K_astimezone, "astimezone"); INTERN(K_date, "date");
    INTERN(K_isoformat, "isoformat"); INTERN(K_utcoffset, "utcoffset"); INTERN(K_digest, "digest"); INTERN(S_sqlite, "sqlite");
    INTERN(S_empty_list_json, "[]");
#undef INTERN
    PyObject *opt = PyUnicode_InternFromString("option");
    if (opt == NULL) return NULL;
    S_kwnames = PyTuple_Pack(1, opt);
    Py_DECREF(opt);
    if (S_kwnames == NULL) return NULL;
    S_int4 = PyLong_FromLong(4);
    S_int5 = PyLong_FromLong(5);
    S_one = PyLong_FromLong(1);
    if (S_int4 == NULL || S_int5 == NULL || S_one == NULL) return NULL;
    PyObject *sf[7] = {K_device_id, K_stream_id, K_type, K_device_time, K_boot_id, K_prev_hash,
                       K_hash};
    for (int k = 0; k < 7; k++) STR_FIELDS[k] = sf[k];
    return PyModule_Create(&module);
}
