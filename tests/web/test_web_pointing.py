"""The review API takes the utterances a reviewer points at (issue 24): indices are checked
against the call's conversation, and a reviewer of another tenant cannot reach the card.
"""

from __future__ import annotations


def test_review_with_pointed_utterances_is_stored_shown_and_validated(client_for, world):
    c = client_for("monitor")
    sid = world.card_ids["call-fatal"]  # agent lines are utterances 0, 2 and 4
    url = f"/api/t/acme/scorecards/{sid}/items/closing/review"
    r = c.post(url, json={"verdict": "fail", "comment": "", "utterances": [4]})
    assert r.status_code == 200, r.text
    assert r.json()["item"]["review"]["utterances"] == [4]
    bundle = c.get(f"/api/t/acme/scorecards/{sid}").json()
    item = next(i for i in bundle["card"]["items"] if i["criterion_id"] == "closing")
    assert item["review"]["utterances"] == [4]
    assert bundle["audit"][-1]["after"]["utterances"] == [4]
    page = c.get(f"/t/acme/scorecards/{sid}").text
    assert 'class="pointed-utt" data-utt="4"' in page  # shown on the card
    for bad in ([6], [-1], ["two"], "4", [0.5]):
        r = c.post(url, json={"verdict": "fail", "utterances": bad})
        assert r.status_code == 422, (bad, r.text)
    assert c.post(url, json={"verdict": "fail", "utterances": list(range(201))}
                  ).status_code == 422
    # Still the first review: nothing of the refused ones was kept.
    bundle = c.get(f"/api/t/acme/scorecards/{sid}").json()
    assert sum(a["action"] == "review.item" for a in bundle["audit"]) == 1


def test_a_reviewer_of_another_tenant_cannot_point_at_its_utterances(client_for, world):
    c = client_for("gmonitor")
    sid = world.card_ids["call-fatal"]
    for tenant in ("acme", "globex"):
        r = c.post(f"/api/t/{tenant}/scorecards/{sid}/items/closing/review",
                   json={"verdict": "fail", "utterances": [0]})
        assert r.status_code in (403, 404), (tenant, r.status_code)
    bundle = client_for("monitor").get(f"/api/t/acme/scorecards/{sid}").json()
    assert not any(a["action"] == "review.item" for a in bundle["audit"])
