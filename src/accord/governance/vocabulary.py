"""The core labels, marketing actions and policies Accord ships, named and meant as Adobe's data governance names
and means them (contract labels C1–C12, identity I1–I2, sensitive S1–S2)."""

from __future__ import annotations

CORE_LABELS: dict[str, str] = {
    "C1": "Export only in aggregate: no individual or device identifiers leave.",
    "C2": "No export to a third party.",
    "C3": "Not to be combined with directly identifying information.",
    "C4": "No ad or content targeting, on site or across sites.",
    "C5": "No interest-based targeting across sites.",
    "C6": "No on-site ad targeting.",
    "C7": "No on-site content targeting (personalisation).",
    "C8": "Not for measuring the organisation's sites or apps.",
    "C9": "Not for data science.",
    "C10": "Not for single-identity personalisation.",
    "C11": "Not to be shared with segment-match partners.",
    "C12": "No export of any kind.",
    "I1": "Directly identifies a person (name, e-mail, phone).",
    "I2": "Identifies a person indirectly (a cookie, a device or CRM id).",
    "S1": "Sensitive: a precise location.",
    "S2": "Sensitive: a protected category (health, religion, ...).",
}

CORE_ACTIONS: dict[str, str] = {
    "export": "Individual-level data leaves Accord for any system, the organisation's own included.",
    "export_to_third_party": "Data goes to a system another company controls (ad platforms, partners).",
    "combine_with_pii": "Data is sent together with directly identifying fields (an I1 field sent alongside).",
    "cross_site_targeting": "People are targeted with ads or content on sites other than the organisation's.",
    "onsite_advertising": "People are shown ads on the organisation's own sites.",
    "onsite_personalization": "The organisation's own sites or apps change what a person sees.",
    "email_targeting": "People are chosen for e-mail campaigns.",
    "phone_targeting": "People are chosen for calls or text messages (Accord's own: Adobe has no phone action).",
    "single_identity_personalization": "One known person is personalised for (sales follow-up, 1:1 e-mail).",
    "analytics": "Used to measure sites, apps or campaigns.",
    "data_science": "Used to train or run models.",
    "segment_match": "Shared with partners through segment matching.",
}

CORE_POLICIES: tuple[tuple[str, str, str], ...] = (
    # (label, action it denies, the policy's name)
    ("C1", "export", "Export only in aggregate"),
    ("C2", "export_to_third_party", "Restrict third-party export"),
    ("C3", "combine_with_pii", "Restrict combining with PII"),
    ("C4", "cross_site_targeting", "Restrict targeting"),
    ("C4", "onsite_advertising", "Restrict on-site advertising"),
    ("C5", "cross_site_targeting", "Restrict interest-based cross-site targeting"),
    ("C6", "onsite_advertising", "Restrict on-site advertising"),
    ("C7", "onsite_personalization", "Restrict on-site personalisation"),
    ("C8", "analytics", "Restrict measurement"),
    ("C9", "data_science", "Restrict data science"),
    ("C10", "single_identity_personalization", "Restrict single-identity personalisation"),
    ("C11", "segment_match", "Restrict segment match"),
    ("C12", "export", "Restrict all export"),
)
