import gzip
import json
import threading
import uuid

import requests
from sqlalchemy import func, select

from aggregator.db import read
from aggregator.schema import events, quarantine, ratings
from tests.aggregator.device import enroll_code, now_iso


def count(engine, table, *where):
    with read(engine) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def alerts_of(server, kind):
    r = requests.get(f"{server.url}/api/v1/alerts?kind={kind}", headers=server.admin,
                     timeout=10)
    return r.json()["alerts"]


def test_signed_batch_is_accepted_and_resent_batch_is_all_duplicate(device, org_setup):
    evs = [device.event("app_start", {}), device.rating(), device.rating("dissatisfied")]
    body = device.batch_body(evs)
    r = device.post_batch(body=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["device_id"] == device.id
    assert [x["status"] for x in answer["results"]] == ["accepted"] * 3
    assert answer["high_water"] == {device.stream_id: 3}
    again = device.post_batch(body=body).json()  # byte-for-byte resend, new nonce
    assert [x["status"] for x in again["results"]] == ["duplicate"] * 3
    assert again["batch_id"] == answer["batch_id"]
    assert count(org_setup.engine, events) == 3
    assert count(org_setup.engine, ratings) == 2


def test_batch_sent_twice_under_one_nonce_is_answered_as_held_and_kept_once(device, org_setup):
    # A proxy that sent every batch twice upstream made each answer the second copy's 401
    # "replayed": the server held the ratings, the kiosk never saw an acknowledgement, and they
    # stayed pending on it for ever. The copy is answered with what the server holds of the
    # batch, and nothing of it is kept.
    from aggregator.schema import devices

    evs = [device.rating(), device.rating("dissatisfied", window_id="W-002")]  # not its window
    body, nonce = device.batch_body(evs), uuid.uuid4().hex
    first = device.post_batch(body=body, nonce=nonce).json()
    assert [x["status"] for x in first["results"]] == ["accepted", "rejected"]
    with read(org_setup.engine) as conn:
        uploaded = conn.execute(select(devices.c.last_upload_at)
                                .where(devices.c.id == device.id)).scalar()
    r = device.post_batch(body=body, nonce=nonce)
    assert r.status_code == 200, r.text
    again = r.json()
    assert [x["status"] for x in again["results"]] == ["duplicate", "rejected"]
    assert again["results"][1]["reason"] == first["results"][1]["reason"]
    assert again["high_water"] == first["high_water"]
    assert count(org_setup.engine, events) == 1 and count(org_setup.engine, ratings) == 1
    assert count(org_setup.engine, quarantine) == 1
    with read(org_setup.engine) as conn:
        assert conn.execute(select(devices.c.last_upload_at)
                            .where(devices.c.id == device.id)).scalar() == uploaded
    # Anything new under a used nonce is still a replay, refused as a whole.
    r = device.post_batch([device.rating()], nonce=nonce)
    assert r.status_code == 401 and r.json()["error"] == "replayed"
    assert count(org_setup.engine, events) == 1


def test_same_id_with_different_payload_is_conflict_quarantined_and_alerted(device, org_setup):
    ev = device.rating("very_satisfied")
    assert device.post_batch([ev]).json()["results"][0]["status"] == "accepted"
    forged = dict(ev, payload=dict(ev["payload"], level="very_dissatisfied", stars=1))
    from sync.protocol import event_hash
    forged["hash"] = event_hash(forged, forged["prev_hash"])
    result = device.post_batch([forged]).json()["results"][0]
    assert result["status"] == "conflict" and result["reason"] == "same id, different hash"
    with read(org_setup.engine) as conn:
        stored = conn.execute(select(events.c.payload).where(events.c.id == ev["id"])).scalar()
        q = conn.execute(select(quarantine.c.status)).scalars().all()
    assert json.loads(stored)["level"] == "very_satisfied"  # never overwritten
    assert q == ["conflict"]
    assert len(alerts_of(org_setup, "conflict")) == 1
    # more conflicts of the stream that day: each quarantined, one alert (a kiosk restored
    # from a backup on the same stream raised one alert per event, 300 of them)
    more = []
    for level, stars in (("satisfied", 4), ("dissatisfied", 2), ("basic_satisfied", 3)):
        ev2 = device.rating("very_satisfied")
        assert device.post_batch([ev2]).json()["results"][0]["status"] == "accepted"
        changed = dict(ev2, payload=dict(ev2["payload"], level=level, stars=stars))
        changed["hash"] = event_hash(changed, changed["prev_hash"])
        more.append(changed)
    assert [r["status"] for r in device.post_batch(more).json()["results"]] == ["conflict"] * 3
    assert count(org_setup.engine, quarantine) == 4
    assert len(alerts_of(org_setup, "conflict")) == 1


def test_reused_id_at_a_new_seq_is_conflict_and_the_rest_of_the_batch_counts(device, org_setup):
    # Ingest looks ids up only at or below the stream's highest stored seq; above it a reused
    # id is found by the insert itself (SQLite: the savepoint is undone and the exact way runs).
    first = device.rating("very_satisfied")
    assert device.post_batch([first]).json()["results"][0]["status"] == "accepted"
    good = device.rating("satisfied")
    reused = device.rating("dissatisfied")
    reused["id"] = first["id"]
    from sync.protocol import event_hash
    reused["hash"] = event_hash(reused, reused["prev_hash"])
    after = device.event("app_start", {})
    after["prev_hash"] = reused["hash"]
    after["hash"] = event_hash(after, after["prev_hash"])
    results = device.post_batch([good, reused, after]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "conflict", "accepted"]
    assert results[1]["reason"] == "id already used by another event"
    assert count(org_setup.engine, events) == 3
    assert count(org_setup.engine, ratings) == 2  # the first and "good", each once
    with read(org_setup.engine) as conn:
        n = conn.exec_driver_sql('SELECT SUM("count") FROM rollup_daily').scalar()
    assert n == 2
    assert len(alerts_of(org_setup, "conflict")) == 1


def test_nul_character_is_refused_per_event_not_a_server_error(device, org_setup):
    # PostgreSQL text cannot hold U+0000 (it was a 500 there); both backends refuse the event.
    ok = device.rating()
    nul = device.rating(staff_name="王\x00芳")
    r = device.post_batch([ok, nul])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected"]
    assert "U+0000" in results[1]["reason"]
    assert count(org_setup.engine, ratings) == 1


def test_broken_chain_link_is_rejected_with_alert(device, org_setup):
    first = device.rating()
    assert device.post_batch([first]).status_code == 200
    device.prev = "f" * 64  # the kiosk's log was tampered with
    bad = device.rating()
    result = device.post_batch([bad]).json()["results"][0]
    assert result["status"] == "rejected" and "chain break" in result["reason"]
    assert count(org_setup.engine, events) == 1
    assert len(alerts_of(org_setup, "chain_break")) == 1


def test_tampered_event_and_bad_payload_are_rejected_naming_the_field(device):
    ok = device.rating()
    tampered = device.rating()
    tampered["payload"]["level"] = "very_dissatisfied"
    tampered["payload"]["stars"] = 1
    unknown = device.event("rating", {"level": "great", "stars": 5, "window_id": "W-001"})
    results = device.post_batch([ok, tampered, unknown]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert results[1]["reason"].startswith("hash:")
    assert results[2]["reason"] == "payload.level: unknown level 'great'"


def test_gap_keeps_high_water_until_filled(device):
    e1, e2, e3 = device.rating(), device.rating(), device.rating()
    assert device.post_batch([e1, e3]).json()["high_water"] == {device.stream_id: 1}
    assert device.post_batch([e2]).json()["high_water"] == {device.stream_id: 3}


def test_wrong_field_types_and_malformed_json_are_400_naming_the_field(device):
    ev = device.rating()
    ev["seq"] = "x"
    r = device.post_batch([ev])
    assert r.status_code == 400
    assert r.json() == {"error": "bad_request", "field": "events[0].seq",
                        "detail": 'events[0].seq must be an integer >= 1, got "x" (string)'}
    r = device.post_batch(body=gzip.compress(b'{"protocol": 1, "events": ['))
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = device.post_batch(body=device.batch_body([], batch_id="nope"))
    assert r.status_code == 400 and r.json()["field"] == "batch_id"
    r = device.post_batch(body=device.batch_body([], protocol="1"))
    assert r.status_code == 400 and r.json()["field"] == "protocol"
    r = device.post_batch(body=b"\x1f\x8bnot gzip")
    assert r.status_code == 400
    r = device.post_batch(body=gzip.compress(b"[]"))
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_gzip_bomb_and_oversize_bodies_are_413(device):
    bomb = gzip.compress(b"{" + b" " * (20 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < 1024 * 1024
    r = device.post_batch(body=bomb)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = device.post_batch(body=b"x" * (1024 * 1024 + 1), compress=False)
    assert r.status_code == 413
    many = [device.event("app_start", {}) for _ in range(501)]
    r = device.post_batch(many)
    assert r.status_code == 413 and r.json()["field"] == "events"
    r = device.post_batch([device.rating()], headers={"Content-Encoding": "br"})
    assert r.status_code == 415


def test_concurrent_identical_batches_store_each_event_once(device, org_setup):
    evs = [device.rating() for _ in range(50)] + [device.event("app_start", {})]
    body = device.batch_body(evs)
    statuses, errors = [], []
    barrier = threading.Barrier(8)

    def send():
        try:
            barrier.wait()
            r = device.post_batch(body=body)
            statuses.append((r.status_code, [x["status"] for x in r.json()["results"]]))
        except Exception as exc:  # surfaced below
            errors.append(exc)
    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(code == 200 for code, _ in statuses) and len(statuses) == 8
    accepted = sum(s.count("accepted") for _, s in statuses)
    duplicate = sum(s.count("duplicate") for _, s in statuses)
    assert accepted == 51 and duplicate == 7 * 51
    assert count(org_setup.engine, events) == 51
    assert count(org_setup.engine, ratings) == 50
    stats = requests.get(f"{org_setup.url}/api/v1/stats?group_by=window",
                         headers=org_setup.admin, timeout=10).json()
    assert stats["total"]["rated"] == 50  # rollups counted once too


def test_follow_up_fills_reasons_of_its_rating(device, org_setup):
    rating = device.rating("very_dissatisfied")
    follow = device.event("follow_up", {"rating_id": rating["id"], "reasons": ["attitude"],
                                        "reasons_version": 1, "phone": "13800001234",
                                        "callback_consent": True, "completed": True})
    assert device.post_batch([rating, follow]).status_code == 200
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating["id"])).mappings().one()
    assert json.loads(row["reasons"]) == ["attitude"]
    assert row["phone"] == "13800001234" and row["callback_consent"] is True
    assert row["channel"] == 4 and row["staff_name"] == "王芳"


def test_a_phone_given_without_consent_is_not_kept_for_a_call_back(device, org_setup):
    # The citizen's consent is what allows a call back (PIPL art. 13/14). Our kiosk never
    # sends a number without it, but the server took one from any follow-up, and the case
    # page showed it for calling. The rating and its reasons are kept; the number is not.
    rating = device.rating("very_dissatisfied")
    follow = device.event("follow_up", {"rating_id": rating["id"], "reasons": ["attitude"],
                                        "reasons_version": 1, "phone": "13800001234",
                                        "callback_consent": False, "completed": True})
    results = device.post_batch([rating, follow]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating["id"])).mappings().one()
    assert json.loads(row["reasons"]) == ["attitude"]
    assert row["phone"] is None and row["callback_consent"] is False


def test_rating_for_another_window_is_rejected(device):
    r = device.post_batch([device.rating(window_id="W-002")]).json()["results"][0]
    assert r["status"] == "rejected" and r["reason"].startswith("payload.window_id")


def test_new_stream_and_db_recovered_raise_alerts(device, org_setup):
    assert device.post_batch([device.rating()]).status_code == 200
    old = device.stream_id
    device.new_stream()
    ev = device.event("db_recovered", {"moved_to": "/data/x.corrupt", "error": "malformed",
                                       "old_stream_id": old})
    assert device.post_batch([ev]).json()["high_water"] == {device.stream_id: 1}
    assert len(alerts_of(org_setup, "new_stream")) == 1
    assert len(alerts_of(org_setup, "db_recovered")) == 1


def test_batch_device_must_match_header(device):
    body = device.batch_body([], device_id="someone-else")
    r = device.post_batch(body=body)
    assert r.status_code == 400 and r.json()["field"] == "device_id"
    assert uuid.UUID(device.stream_id)


def test_bad_rating_opens_its_case_in_the_ingest_transaction(device, org_setup):
    # Cases used to appear only when somebody opened the case list (a catch-up query); a bad
    # rating must have its case, and its deadline clock, from the moment it is stored.
    from aggregator.dashboard.tables import cases

    evs = [device.rating("very_dissatisfied"), device.rating("satisfied"),
           device.rating("dissatisfied", flags=["lockout"])]
    assert device.post_batch(evs).status_code == 200
    with read(org_setup.engine) as conn:
        opened = conn.execute(select(cases.c.rating_id, cases.c.state)).all()
    assert opened == [(evs[0]["id"], "new")]  # good and flagged ratings open no case
    assert device.post_batch(evs).status_code == 200  # a resend opens nothing twice
    assert count(org_setup.engine, cases) == 1


def test_which_window_a_rating_counts_for(device, org_setup):
    # Own window: as is. A window the server does not know (the kiosk's standalone set-up
    # before enrolment): the device's window. A known window this device never served:
    # refused. A window the device served before it was moved: kept there.
    own = device.rating()
    standalone = device.rating(window_id="W-LOCAL-CONFIG")
    foreign = device.rating(window_id="W-002")
    answer = device.post_batch([own, standalone, foreign]).json()["results"]
    assert [r["status"] for r in answer] == ["accepted", "accepted", "rejected"]
    assert "not a window this device served" in answer[2]["reason"]
    with read(org_setup.engine) as conn:
        counted = dict(conn.execute(select(ratings.c.id, ratings.c.window_id)).all())
        kept = conn.execute(select(events.c.payload).where(events.c.id == standalone["id"])).scalar()
    assert counted == {own["id"]: "W-001", standalone["id"]: "W-001"}
    assert json.loads(kept)["window_id"] == "W-LOCAL-CONFIG"  # what the kiosk said is kept

    # The device moves to W-002; a W-001 rating still in its outbox counts for W-001.
    device.window_id = "W-002"
    assert device.enroll(enroll_code(org_setup, window_id="W-002", device_id=device.id)).status_code == 200
    late = device.rating(window_id="W-001")
    new = device.rating(window_id="W-002")
    assert [r["status"] for r in device.post_batch([late, new]).json()["results"]] == ["accepted"] * 2
    with read(org_setup.engine) as conn:
        counted = dict(conn.execute(select(ratings.c.id, ratings.c.window_id)).all())
    assert (counted[late["id"]], counted[new["id"]]) == ("W-001", "W-002")


def test_rollups_of_a_mixed_batch_match_its_stored_ratings(device, org_setup):
    # Ingest works a batch's rollup increments out before its write lock, for all of its
    # ratings (2026-12-02); they hold only when every rating is stored as made. Here some are
    # not (a refused window, a repeat, a rating moved to the device's window), the batch has
    # not-rated and staff events too, and the rollups must still count exactly what was stored.
    from aggregator import rollups
    from aggregator.schema import rollup_daily

    kept = device.rating("satisfied")
    evs = [device.event("staff_sign_in", {"staff_id": "S-007", "staff_name": "王芳"}),
           kept, device.rating("very_dissatisfied"),
           device.rating(window_id="W-002"),            # a window it never served: refused
           device.rating("basic_satisfied", window_id="W-LOCAL-CONFIG"),  # counted for W-001
           device.event("not_rated", {"invitation_id": "i1", "window_id": "W-001"}),
           device.rating("very_satisfied", flags=["burst"]),
           device.rating(device_time=now_iso(3600)),    # an hour ahead of server time
           kept]                                        # the same event again
    answer = device.post_batch(evs).json()["results"]
    assert [r["status"] for r in answer] == ["accepted"] * 3 + ["rejected"] + ["accepted"] * 4 \
        + ["duplicate"]
    with read(org_setup.engine) as conn:
        stored = [dict(r) for r in conn.execute(select(ratings)).mappings()]
        daily = {tuple(r[:7]): tuple(r[7:]) for r in conn.execute(select(rollup_daily))}
        assert rollups.check_monthly(conn) == []
    assert len(stored) == 5
    recount = rollups.tally(((rollups.rating_key(r), r["stars"], bool(r["invitation_id"]))
                             for r in stored), [{"day": stored[0]["day"], "window_id": "W-001",
                                                 "unit_id": "U-01", "staff_id": None,
                                                 "service_item": None}])
    assert daily == {k: tuple(v) for k, v in recount.items()}
    assert {r["window_id"] for r in stored} == {"W-001"}
    assert len(alerts_of(org_setup, "clock_offset")) == 1
    assert len(alerts_of(org_setup, "burst")) == 1


def test_a_kiosk_cannot_send_the_qr_channel_or_the_servers_own_flags(device, org_setup):
    # Until 2026-12-03 a device's batch could say channel 3, moving its ratings into the QR
    # figures, or flag its own bad rating `appeal_accepted`, which the case page reads as an
    # appeal a supervisor accepted (and which leaves the rating out of the rates). Each such
    # event is refused and quarantined on the kiosk, naming why; the rest of the batch counts.
    evs = [device.rating("very_dissatisfied"), device.rating(channel=3),
           device.rating("very_dissatisfied", flags=["appeal_accepted"]),
           device.rating("dissatisfied", flags=["burst", "after_revocation"])]
    r = device.post_batch(evs)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted"] + ["rejected"] * 3
    assert results[1]["reason"] == ("payload.channel: a kiosk's rating is channel 4 (hall "
                                    "tablet); 3 is the QR page's, which the server records "
                                    "itself, got 3")
    assert results[2]["reason"] == ("payload.flags: 'appeal_accepted' is the server's own "
                                    "flag; a kiosk may not set it")
    assert results[3]["reason"] == ("payload.flags: 'after_revocation' is the server's own "
                                    "flag; a kiosk may not set it")
    with read(org_setup.engine) as conn:
        stored = conn.execute(select(ratings.c.channel, ratings.c.flagged)).all()
    assert [tuple(x) for x in stored] == [(4, False)]
    assert count(org_setup.engine, quarantine) == 3


def test_odd_values_in_a_rating_are_rejected_per_event_not_a_server_error(device, org_setup):
    # Found by the differential test of the C checks (2026-12-02): a level or channel that is
    # an array or object made `rating_problem` raise TypeError (unhashable), a device time in
    # year 1 or 9999 with an offset made the row's UTC conversion overflow, and a hash
    # followed by a newline passed the hex check. The first two were 500s for the whole batch.
    ok = device.rating()
    odd = [device.event("rating", {"level": ["satisfied"], "stars": 4, "window_id": "W-001"}),
           device.event("rating", {"level": "satisfied", "stars": 4, "channel": {"x": 1},
                                   "window_id": "W-001"}),
           device.rating(device_time="0001-01-01T00:00:00+08:00"),
           device.rating(device_time="9999-12-31T23:59:59-08:00")]
    newline = device.rating()
    newline["prev_hash"] += "\n"
    r = device.post_batch([ok, *odd, newline])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted"] + ["rejected"] * 5
    reasons = [x["reason"] for x in results[1:]]
    assert reasons[0] == "payload.level: unknown level ['satisfied']"
    assert reasons[1] == "payload.channel: must be 4 (hall tablet), got {'x': 1}"
    assert reasons[2].startswith("device_time: year 1 is outside") and \
        reasons[3].startswith("device_time: year 9999 is outside")
    assert reasons[4] == "prev_hash: must be 64 lower-case hex digits"
    assert count(org_setup.engine, ratings) == 1
