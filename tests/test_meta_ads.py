"""Meta Custom Audiences against a local Marketing API over HTTP: members go as SHA-256 of their e-mail, phone,
names and country into a customer-list custom audience found by name (past the first page of the account's
audiences) or made; a busy account is asked again; a refused token, a restricted audience or one that is no customer
list stop the change in one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.activation.destination import DeliveryError, Member
from accord.connectors.errors import ConnectorError
from accord.connectors.hashing import hashed_email, sha256
from accord.connectors.meta_ads.config import MetaAdsDestinationConfig
from accord.connectors.meta_ads.destination import MetaAdsDestination, open_destination
from accord.connectors.meta_ads.server import CustomAudience, MetaAdsServer

AUDIENCE = "Webinar attendees"


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[tuple[MetaAdsServer, MetaAdsDestination]]:
    with MetaAdsServer() as server:
        (tmp_path / "token").write_text(server.token)
        config = MetaAdsDestinationConfig(name="meta", audiences=[AUDIENCE], ad_account=server.ad_account,
                                          access_token="file:token", endpoint=server.endpoint, timeout_seconds=5)
        destination = open_destination(config, tmp_path, "acme", "prod")
        yield server, destination
        destination.close()


def members(*emails: str | None) -> list[Member]:
    return [Member(f"P{i:08d}", {"email": e}) for i, e in enumerate(emails)]


def test_members_go_hashed_into_the_custom_audience_found_past_the_first_page(meta) -> None:
    server, destination = meta
    for n in range(150):  # the account's other audiences: the one named is on the second page
        server.audiences[str(n)] = CustomAudience(f"{n:03d}", f"Other {n}")
    server.audiences["999"] = CustomAudience("999", f"acme · {AUDIENCE}")
    outcomes = destination.add(AUDIENCE, members(" Ann@Acme.com ", "bob@acme.com", None))
    assert [(o.status, o.reason) for o in outcomes] == [("skipped", "no_email_or_phone"), ("added", None),
                                                        ("added", None)]
    assert server.audiences["999"].hashes("EMAIL") == {hashed_email("ann@acme.com"), hashed_email("bob@acme.com")}
    assert not any(b"acme.com" in body for body in server.bodies), "no e-mail leaves in plain"
    destination.remove(AUDIENCE, [Member("P00000000", {}, key=hashed_email("ann@acme.com"))])
    assert server.audiences["999"].hashes("EMAIL") == {hashed_email("bob@acme.com")}, \
        "a key kept when users went by e-mail alone removes that user"
    assert destination.check() == {"custom audiences found": 1, "to create": 0}


def test_a_missing_custom_audience_is_made_as_a_customer_list(meta) -> None:
    server, destination = meta
    destination.add(AUDIENCE, members("ann@acme.com"))
    [made] = server.audiences.values()
    assert (made.name, made.subtype, len(made.users)) == (f"acme · {AUDIENCE}", "CUSTOM", 1)


def test_a_busy_account_is_a_retryable_refusal_and_a_wrong_token_a_clear_one(meta) -> None:
    server, destination = meta
    server.fail_next(429)  # Meta's form: HTTP 400, code 17
    with pytest.raises(ConnectorError) as busy:
        destination.add(AUDIENCE, members("ann@acme.com"))
    assert busy.value.retryable and "code 17" in str(busy.value)
    server.token = "rotated"
    with pytest.raises(ConnectorError) as refused:
        destination.add(AUDIENCE, members("ann@acme.com"))
    assert not refused.value.retryable and "check the destination's access_token" in str(refused.value)


@pytest.mark.parametrize(("held", "said"), [
    (CustomAudience("7", f"acme · {AUDIENCE}", status=471), "restricted custom audience"),
    (CustomAudience("7", f"acme · {AUDIENCE}", subtype="LOOKALIKE"), "is a LOOKALIKE audience, not a customer list"),
])
def test_an_audience_that_cannot_take_users_is_named(meta, held: CustomAudience, said: str) -> None:
    server, destination = meta
    server.audiences["7"] = held
    with pytest.raises(DeliveryError, match=said):
        destination.add(AUDIENCE, members("ann@acme.com"))


def test_a_member_goes_by_every_key_it_has_and_leaves_by_the_keys_it_came_with(meta) -> None:
    """A work e-mail alone finds few people on Meta: the phone (with its country code), names and country (written as
    a code or a name) go too, each normalised as Meta asks, then hashed; a phone without its country code is not
    guessed at. A member leaving
    is removed by the keys it was added with, though its profile changed since."""
    server, destination = meta
    kim = Member("P1", {"email": "kim@acme.com", "phone": "+1 (415) 555-0132", "first_name": " Kim ",
                        "last_name": "O'Brien-Núñez", "country": "US"})
    lee = Member("P2", {"email": None, "phone": "0044 20 7946 0958", "first_name": "Lee", "country": "United Kingdom"})
    local = Member("P3", {"email": None, "phone": "(415) 555-0199", "first_name": "Ada"})
    outcomes = destination.add(AUDIENCE, [kim, lee, local])
    assert [(o.status, o.reason) for o in outcomes] == [("skipped", "no_email_or_phone"), ("added", None),
                                                        ("added", None)]
    [held] = server.audiences.values()
    assert held.users == {
        (("EMAIL", hashed_email("kim@acme.com")), ("PHONE", sha256("14155550132")), ("FN", sha256("kim")),
         ("LN", sha256("obriennúñez")), ("COUNTRY", sha256("us"))),
        (("PHONE", sha256("442079460958")), ("FN", sha256("lee")), ("COUNTRY", sha256("gb")))}
    assert not any(b"kim" in body.lower() or b"4155550132" in body for body in server.bodies)
    key = next(o.key for o in outcomes if o.profile_id == "P1")
    destination.remove(AUDIENCE, [Member("P1", {"email": "kim@other.io"}, key=key)])
    assert held.hashes("EMAIL") == set() and held.hashes("PHONE") == {sha256("442079460958")}
