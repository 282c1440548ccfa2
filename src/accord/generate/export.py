"""Write a generated world in the source systems' own shapes, with the ground truth and a manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from accord.generate import pools
from accord.generate.world import DAY, EVENT_KINDS, World, iso, iso_date

SALESFORCE_ORG = "00D5e0000012345EAA"
MARKETO_MUNCHKIN = "123-ABC-456"
FIRST_LEAD_ID = 1000
NULL = "null"  # Marketo's bulk extracts write missing values as the text null


@dataclass(frozen=True)
class WrittenFile:
    path: str
    mapping: str
    source_instance_id: str
    rows: int


def salesforce_ids(prefix: str, n: int, start: int = 1) -> np.ndarray:
    """18-character Salesforce-style ids: key prefix, pod, then a base-62 counter."""
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    counter = np.arange(start, start + n, dtype=np.int64)
    digits = np.stack([(counter // 62**p) % 62 for p in range(8, -1, -1)], axis=1)
    body = alphabet[digits].view("S9").ravel().astype(str)
    return (prefix + "5e000" + np.char.add(body, "A")).astype(object)


class Exporter:
    """Writes every file of a world below `out`, collecting the manifest as it goes."""

    def __init__(self, world: World, out: Path, on_file: Callable[[str], None] | None = None) -> None:
        self.w = world
        self.out = out
        self.files: list[WrittenFile] = []
        self.on_file = on_file
        p = world.people
        self.account_id = salesforce_ids("001", world.scale.accounts)
        self.contacts = np.flatnonzero(p.in_crm == 1)
        self.leads = np.flatnonzero(p.in_crm == 2)
        self.contact_id = np.full(len(p.account), None, dtype=object)
        self.contact_id[self.contacts] = salesforce_ids("003", len(self.contacts))
        self.lead_id = np.full(len(p.account), None, dtype=object)
        self.lead_id[self.leads] = salesforce_ids("00Q", len(self.leads))
        self.converted = np.flatnonzero(p.converted_lead)
        self.converted_lead_id = salesforce_ids("00Q", len(self.converted), start=len(self.leads) + 1)
        self.marketo = np.flatnonzero(p.in_marketo)
        self.marketo_lead = np.full(len(p.account), -1, dtype=np.int64)
        self.marketo_lead[self.marketo] = FIRST_LEAD_ID + np.arange(len(self.marketo))
        self.campaign_id = salesforce_ids("701", world.scale.campaigns)
        self.opportunity_id = salesforce_ids("006", world.scale.opportunities)

    def write_all(self) -> list[WrittenFile]:
        self.salesforce()
        self.marketo_files()
        self.truth()
        manifest = {
            "generated": {"seed": self.w.seed, "as_of": self.w.as_of.isoformat(), "scale": self.w.scale.__dict__},
            "files": [f.__dict__ for f in self.files],
        }
        (self.out / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        return self.files

    def _write(self, rel: str, columns: dict[str, object], mapping: str | None, instance: str) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({k: _arrow(v) for k, v in columns.items()})
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
        if mapping:
            self.files.append(WrittenFile(rel, mapping, instance, table.num_rows))
        if self.on_file:
            self.on_file(rel)

    # Salesforce -----------------------------------------------------------------------------------------
    def salesforce(self) -> None:
        w, a, p = self.w, self.w.accounts, self.w.people
        end = int(w.as_of.timestamp())

        def sf(rel: str, cols: dict[str, object], mapping: str) -> None:
            self._write(f"salesforce/{rel}", cols, f"salesforce/{mapping}", SALESFORCE_ORG)

        n = len(a.name)
        sf(
            "Account.csv",
            {
                "Id": self.account_id,
                "Name": a.name,
                "Website": "https://www." + a.domain,
                "Industry": a.industry,
                "NumberOfEmployees": a.employees,
                "AnnualRevenue": a.revenue,
                "BillingCountry": a.country,
                "BillingCity": a.city,
                "Type": np.where(np.arange(n) % 4 == 0, "Customer", "Prospect").astype(object),
                "ParentId": np.where(a.parent >= 0, self.account_id[np.maximum(a.parent, 0)], None),
                "CreatedDate": iso(a.created),
                "SystemModstamp": iso(np.minimum(a.created + 100 * DAY, end - DAY)),
                "IsDeleted": np.full(n, "false", dtype=object),
                "ABM_Tier__c": _choice(self.w, pools.ABM_TIERS, n, 21),
                "Products__c": _multi_choice(self.w, pools.PRODUCTS, n, 23),
            },
            "account",
        )
        c = self.contacts
        sf(
            "Contact.csv",
            {
                "Id": self.contact_id[c],
                "AccountId": self.account_id[p.account[c]],
                "FirstName": p.first[c],
                "LastName": p.last[c],
                "Email": p.email[c],
                "Title": p.title[c],
                "Seniority__c": p.seniority[c],
                "Phone": p.phone[c],
                "MailingCountry": p.country[c],
                "HasOptedOutOfEmail": np.where(p.opted_out[c], "true", "false").astype(object),
                "DoNotCall": np.where(p.do_not_call[c], "true", "false").astype(object),
                "LeadSource": _choice(self.w, pools.LEAD_SOURCES, len(c), 1),
                "CreatedDate": iso(p.created[c]),
                "SystemModstamp": iso(p.created[c] + DAY),
                "IsDeleted": np.full(len(c), "false", dtype=object),
                "Persona__c": _choice(self.w, pools.PERSONAS, len(c), 22),
            },
            "contact",
        )
        self._salesforce_leads(end)
        self._salesforce_opportunities()
        self._salesforce_campaigns(end)
        rel_people = c[np.random.default_rng(self.w.seed + 7).random(len(c)) < 0.1]
        other = np.random.default_rng(self.w.seed + 8).integers(0, n, len(rel_people))
        keep = other != p.account[rel_people]
        direct_ids = salesforce_ids("07k", len(c))
        indirect_ids = salesforce_ids("07k", int(keep.sum()), start=len(c) + 1)
        sf(
            "AccountContactRelation.csv",
            {
                "Id": np.concatenate([direct_ids, indirect_ids]),
                "AccountId": np.concatenate([self.account_id[p.account[c]], self.account_id[other[keep]]]),
                "ContactId": np.concatenate([self.contact_id[c], self.contact_id[rel_people[keep]]]),
                "Roles": np.concatenate([p.title[c], np.full(int(keep.sum()), "Advisor", dtype=object)]),
                "IsDirect": np.concatenate([np.full(len(c), "true"), np.full(int(keep.sum()), "false")]).astype(object),
                "IsActive": np.full(len(c) + int(keep.sum()), "true", dtype=object),
                "SystemModstamp": iso(np.concatenate([p.created[c], p.created[rel_people[keep]]]) + DAY),
                "IsDeleted": np.full(len(c) + int(keep.sum()), "false", dtype=object),
            },
            "account_contact_relation",
        )

    def _salesforce_leads(self, end: int) -> None:
        p, a = self.w.people, self.w.accounts
        lead, conv = self.leads, self.converted
        idx = np.concatenate([lead, conv])
        n_open, n_conv = len(lead), len(conv)
        # A lead types its company by hand: account people's leads carry a variant of the account name.
        company = np.where(p.account[idx] >= 0, _typed_company(a.name[np.maximum(p.account[idx], 0)], self.w.seed), None)
        # People with no account type a one-person business no account is named like.
        company = np.where(company == None, p.first[idx] + " " + p.last[idx] + " Freelance", company)  # noqa: E711
        converted_date = iso_date(p.created[conv] + 2 * DAY)
        self._write(
            "salesforce/Lead.csv",
            {
                "Id": np.concatenate([self.lead_id[lead], self.converted_lead_id]),
                "FirstName": p.first[idx],
                "LastName": p.last[idx],
                "Email": p.email[idx],
                "Company": company,
                "Title": p.title[idx],
                "Seniority__c": p.seniority[idx],
                "Phone": p.phone[idx],
                "Status": np.concatenate(
                    [_choice(self.w, pools.LEAD_STATUSES[:2], n_open, 2), np.full(n_conv, "Closed - Converted", dtype=object)]
                ),
                "LeadSource": _choice(self.w, pools.LEAD_SOURCES, len(idx), 3),
                "Country": p.country[idx],
                "HasOptedOutOfEmail": np.where(p.opted_out[idx], "true", "false").astype(object),
                "DoNotCall": np.where(p.do_not_call[idx], "true", "false").astype(object),
                "IsConverted": np.concatenate([np.full(n_open, "false"), np.full(n_conv, "true")]).astype(object),
                "ConvertedDate": np.concatenate([np.full(n_open, None, dtype=object), converted_date]),
                "ConvertedContactId": np.concatenate([np.full(n_open, None, dtype=object), self.contact_id[conv]]),
                "ConvertedAccountId": np.concatenate(
                    [np.full(n_open, None, dtype=object), self.account_id[p.account[conv]]]
                ),
                "CreatedDate": iso(p.created[idx] - DAY),
                "SystemModstamp": iso(np.minimum(p.created[idx] + 3 * DAY, end - 1)),
                "IsDeleted": np.full(len(idx), "false", dtype=object),
            },
            "salesforce/lead",
            SALESFORCE_ORG,
        )

    def _salesforce_opportunities(self) -> None:
        o, w = self.w.opportunities, self.w
        stages = pools.OPPORTUNITY_STAGES
        n = len(o.account)
        self._write(
            "salesforce/Opportunity.csv",
            {
                "Id": self.opportunity_id,
                "AccountId": self.account_id[o.account],
                "Name": w.accounts.name[o.account] + " - " + _choice(w, ("New Business", "Expansion", "Renewal"), n, 4),
                "StageName": np.array([s[0] for s in stages], dtype=object)[o.stage],
                "Amount": o.amount,
                "Probability": np.array([s[1] for s in stages])[o.stage],
                "CloseDate": iso_date(o.close),
                "IsClosed": np.array(["true" if s[2] else "false" for s in stages], dtype=object)[o.stage],
                "IsWon": np.array(["true" if s[3] else "false" for s in stages], dtype=object)[o.stage],
                "Type": _choice(w, ("New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal"), n, 5),
                "LeadSource": _choice(w, pools.LEAD_SOURCES, n, 6),
                "CampaignId": np.where(o.campaign >= 0, self.campaign_id[np.maximum(o.campaign, 0)], None),
                "CreatedDate": iso(o.created),
                "SystemModstamp": iso(o.created + DAY),
                "IsDeleted": np.full(n, "false", dtype=object),
            },
            "salesforce/opportunity",
            SALESFORCE_ORG,
        )
        opp, person, role = self.w.roles
        first = np.ones(len(opp), dtype=bool)
        first[1:] = opp[1:] != opp[:-1]
        self._write(
            "salesforce/OpportunityContactRole.csv",
            {
                "Id": salesforce_ids("00K", len(opp)),
                "OpportunityId": self.opportunity_id[opp],
                "ContactId": self.contact_id[person],
                "Role": np.array(pools.CONTACT_ROLES, dtype=object)[role],
                "IsPrimary": np.where(first, "true", "false").astype(object),
                "SystemModstamp": iso(o.created[opp] + DAY),
                "IsDeleted": np.full(len(opp), "false", dtype=object),
            },
            "salesforce/opportunity_contact_role",
            SALESFORCE_ORG,
        )

    def _salesforce_campaigns(self, end: int) -> None:
        w = self.w
        k = w.scale.campaigns
        rng = np.random.default_rng(w.seed + 11)
        start = end - rng.integers(10 * DAY, 300 * DAY, k)
        types = _choice(w, pools.CAMPAIGN_TYPES, k, 9)
        self._write(
            "salesforce/Campaign.csv",
            {
                "Id": self.campaign_id,
                "Name": types + " " + np.array([f"Campaign {i + 1:03d}" for i in range(k)], dtype=object),
                "Type": types,
                "Status": np.where(start > end - 60 * DAY, "In Progress", "Completed").astype(object),
                "StartDate": iso_date(start),
                "EndDate": iso_date(start + 60 * DAY),
                "IsActive": np.where(start > end - 60 * DAY, "true", "false").astype(object),
                "CreatedDate": iso(start - 5 * DAY),
                "SystemModstamp": iso(start),
                "IsDeleted": np.full(k, "false", dtype=object),
            },
            "salesforce/campaign",
            SALESFORCE_ORG,
        )
        crm = np.concatenate([self.contacts, self.leads])
        picks = rng.random(len(crm)) < 0.6
        member = crm[picks]
        campaign = rng.integers(0, k, len(member))
        is_contact = self.w.people.in_crm[member] == 1
        status = rng.integers(0, len(pools.CAMPAIGN_MEMBER_STATUSES), len(member))
        responded = status > 0
        self._write(
            "salesforce/CampaignMember.csv",
            {
                "Id": salesforce_ids("00v", len(member)),
                "CampaignId": self.campaign_id[campaign],
                "ContactId": np.where(is_contact, self.contact_id[member], None),
                "LeadId": np.where(is_contact, None, self.lead_id[member]),
                "Status": np.array(pools.CAMPAIGN_MEMBER_STATUSES, dtype=object)[status],
                "HasResponded": np.where(responded, "true", "false").astype(object),
                "FirstRespondedDate": np.where(responded, iso_date(start[campaign] + 3 * DAY), None),
                "CreatedDate": iso(start[campaign]),
                "SystemModstamp": iso(start[campaign] + DAY),
                "IsDeleted": np.full(len(member), "false", dtype=object),
            },
            "salesforce/campaign_member",
            SALESFORCE_ORG,
        )

    # Marketo --------------------------------------------------------------------------------------------
    def marketo_files(self) -> None:
        self._marketo_leads()
        self._marketo_programs_and_lists()
        self._marketo_activities()

    def _marketo_leads(self) -> None:
        p, a = self.w.people, self.w.accounts
        rng = np.random.default_rng(self.w.seed + 21)
        m = self.marketo
        dup = np.flatnonzero(p.marketo_duplicate)
        idx = np.concatenate([m, dup])
        lead_ids = np.concatenate([self.marketo_lead[m], FIRST_LEAD_ID + len(m) + np.arange(len(dup))])
        email = p.email[idx].copy()
        # Small differences between systems: some addresses typed with capitals, some titles abbreviated.
        shout = rng.random(len(idx)) < 0.1
        email[shout] = np.char.capitalize(email[shout].astype(str)).astype(object)
        title = p.title[idx].copy()
        abbreviate = rng.random(len(idx)) < 0.05
        title[abbreviate] = np.char.replace(title[abbreviate].astype(str), "Director of", "Dir.").astype(object)
        has_acc = p.account[idx] >= 0
        acc = np.maximum(p.account[idx], 0)
        crm = p.in_crm[idx]
        self.lead_rows = (idx, lead_ids)
        self._write(
            "marketo/leads.csv",
            {
                "id": lead_ids,
                "email": email,
                "firstName": p.first[idx],
                "lastName": p.last[idx],
                "title": title,
                "company": np.where(has_acc, a.name[acc], NULL),
                "website": np.where(has_acc, "www." + a.domain[acc], NULL),
                "industry": np.where(has_acc, a.industry[acc], NULL),
                "numberOfEmployees": np.where(has_acc, a.employees[acc].astype(str).astype(object), NULL),
                "phone": np.where(rng.random(len(idx)) < 0.3, NULL, p.phone[idx]),
                "country": p.country[idx],
                "leadStatus": _choice(self.w, pools.LEAD_STATUSES[:2], len(idx), 22),
                "leadSource": _choice(self.w, pools.LEAD_SOURCES, len(idx), 23),
                "leadScore": p.lead_score[idx],
                "unsubscribed": np.where(p.opted_out[idx], "true", "false").astype(object),
                "doNotCall": np.where(p.do_not_call[idx], "true", "false").astype(object),
                "doNotCallReason": np.where(p.do_not_call[idx], "Asked not to be called", NULL),
                "emailInvalid": np.where(p.email_invalid[idx], "true", "false").astype(object),
                "sfdcType": np.where(crm == 1, "Contact", np.where(crm == 2, "Lead", NULL)).astype(object),
                "sfdcContactId": np.where(crm == 1, self.contact_id[idx], NULL),
                "sfdcLeadId": np.where(crm == 2, self.lead_id[idx], NULL),
                "sfdcAccountId": np.where((crm == 1) & has_acc, self.account_id[acc], NULL),
                "createdAt": iso(p.created[idx]),
                "updatedAt": iso(p.created[idx] + 2 * DAY),
            },
            "marketo/lead",
            MARKETO_MUNCHKIN,
        )

    def _marketo_programs_and_lists(self) -> None:
        w = self.w
        end = int(w.as_of.timestamp())
        k = w.scale.programs
        rng = np.random.default_rng(w.seed + 31)
        program_ids = 1001 + np.arange(k)
        channels = np.array(("Webinar", "Email Blast", "Nurture", "Tradeshow", "Online Advertising"), dtype=object)
        channel = channels[np.arange(k) % len(channels)]
        created = end - rng.integers(20 * DAY, 200 * DAY, k)
        self.program_names = channel + np.array([f" Program {i + 1:02d}" for i in range(k)], dtype=object)
        self._write(
            "marketo/programs.csv",
            {
                "id": program_ids,
                "name": self.program_names,
                "type": np.where(channel == "Webinar", "event", "program").astype(object),
                "channel": channel,
                "status": np.full(k, "on", dtype=object),
                "createdAt": iso(created),
                "updatedAt": iso(created + DAY),
            },
            "marketo/program",
            MARKETO_MUNCHKIN,
        )
        idx, lead_ids = self.lead_rows
        members = rng.random(len(idx)) < 0.5
        program = rng.integers(0, k, int(members.sum()))
        statuses = np.array(("01 Sent", "02 Opened", "03 Registered", "04 Attended"), dtype=object)
        status = rng.integers(0, len(statuses), len(program))
        self._write(
            "marketo/program_members.csv",
            {
                "programId": program_ids[program],
                "leadId": lead_ids[members],
                "statusName": statuses[status],
                "reachedSuccess": (status == 3).astype(np.int64),
                "membershipDate": iso(created[program] + DAY),
                "createdAt": iso(created[program] + DAY),
                "updatedAt": iso(created[program] + 2 * DAY),
            },
            "marketo/program_member",
            MARKETO_MUNCHKIN,
        )
        n_lists = len(pools.LIST_NAMES)
        list_ids = 5001 + np.arange(n_lists)
        self._write(
            "marketo/lists.csv",
            {
                "id": list_ids,
                "name": np.array(pools.LIST_NAMES, dtype=object),
                "description": np.full(n_lists, NULL, dtype=object),
                "createdAt": iso(np.full(n_lists, end - 400 * DAY)),
                "updatedAt": iso(np.full(n_lists, end - 300 * DAY)),
            },
            "marketo/list",
            MARKETO_MUNCHKIN,
        )
        on_list = rng.random(len(idx)) < 0.4
        self._write(
            "marketo/list_members.csv",
            {
                "listId": list_ids[rng.integers(0, n_lists, int(on_list.sum()))],
                "leadId": lead_ids[on_list],
            },
            "marketo/list_member",
            MARKETO_MUNCHKIN,
        )

    def _marketo_activities(self) -> None:
        """Activities in 30-day files (Marketo's bulk extract allows at most 31 days a job), ordered by time."""
        ev = self.w.events
        end = int(self.w.as_of.timestamp())
        kinds = np.array([k[1] for k in EVENT_KINDS])
        type_of = {k[0]: i for i, k in enumerate(EVENT_KINDS)}
        paths = [pools.WEBSITE + path for path in pools.WEB_PATHS]
        programs = list(self.program_names)
        # One pool of primary values and one of attributes; each row picks by index.
        primary_pool = pa.array(paths + programs + [NULL])
        attr_pool = pa.array(
            [json.dumps({"Webpage URL": u, "Referrer URL": "https://www.google.com/"}) for u in paths]
            + [json.dumps({"New Status": "Attended", "Program": prog}) for prog in programs]
            + [json.dumps({"Change Value": f"{d:+d}", "Reason": "Behavior"}) for d in range(-5, 15)]
            + [json.dumps({"Link": u}) for u in paths]
            + ["{}"]
        )
        n_paths, n_programs = len(paths), len(programs)
        kind = ev.kind
        path = ev.path.astype(np.int64)  # an index past 127 (many programs) would overflow int8
        web = (kind == type_of["web.pageview"]) | (kind == type_of["web.formfill"])
        program_kinds = np.isin(kind, [type_of[k] for k in ("webinar.attend", "program.status_change", "email.sent",
                                                              "email.delivered", "email.open", "email.click")])
        primary = np.where(web, path, np.where(program_kinds, n_paths + ev.program, n_paths + n_programs))
        status_kinds = np.isin(kind, [type_of["webinar.attend"], type_of["program.status_change"]])
        score = kind == type_of["lead.score_change"]
        click = kind == type_of["email.click"]
        link = n_paths + n_programs + 20
        attributes = np.where(
            web,
            path,
            np.where(
                status_kinds,
                n_paths + ev.program,
                np.where(
                    score,
                    n_paths + n_programs + ev.score_delta + 5,
                    np.where(click, link + path, len(attr_pool) - 1),
                ),
            ),
        )
        windows = [(end - (90 - 30 * i) * DAY, end - (60 - 30 * i) * DAY) for i in range(3)]
        cut = np.searchsorted(ev.at, [w[0] for w in windows] + [end])
        for i, (lo, hi) in enumerate(windows):
            s = slice(cut[i], cut[i + 1])
            n = cut[i + 1] - cut[i]
            at = pa.array(ev.at[s].astype("datetime64[s]"))
            columns = {
                "marketoGUID": pa.array(np.arange(cut[i] + 1, cut[i + 1] + 1)).cast(pa.string()),
                "leadId": pa.array(self.marketo_lead[ev.person[s]]).cast(pa.string()),
                "activityDate": pc.strftime(at, format="%Y-%m-%dT%H:%M:%SZ"),
                "activityTypeId": pa.array(kinds[kind[s]]).cast(pa.string()),
                "campaignId": pa.array(np.full(n, NULL, dtype=object), pa.string()),
                "primaryAttributeValueId": pa.array(np.full(n, NULL, dtype=object), pa.string()),
                "primaryAttributeValue": primary_pool.take(pa.array(primary[s])),
                "attributes": attr_pool.take(pa.array(attributes[s])),
            }
            name = f"marketo/activities_{iso_date(np.array([lo]))[0]}_{iso_date(np.array([hi]))[0]}.csv"
            self._write(name, columns, "marketo/activity", MARKETO_MUNCHKIN)

    # Ground truth ---------------------------------------------------------------------------------------
    def truth(self) -> None:
        p = self.w.people
        sf_suffix, mk_suffix = f"@{SALESFORCE_ORG}.Salesforce", f"@{MARKETO_MUNCHKIN}.Marketo"
        idx, lead_ids = self.lead_rows
        keys = np.concatenate(
            [
                self.contact_id[self.contacts] + sf_suffix,
                self.lead_id[self.leads] + sf_suffix,
                self.converted_lead_id + sf_suffix,
                lead_ids.astype(str).astype(object) + mk_suffix,
            ]
        )
        owners = np.concatenate([self.contacts, self.leads, self.converted, idx])
        self._write("truth/persons.csv", {"source_key": keys, "person": owners}, None, "")
        n = len(self.account_id)
        self._write(
            "truth/accounts.csv", {"source_key": self.account_id + sf_suffix, "account": np.arange(n)}, None, ""
        )
        self._write(
            "truth/person_accounts.csv", {"person": np.arange(len(p.account)), "account": p.account}, None, ""
        )


def _choice(world: World, options: tuple[str, ...], n: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng(world.seed * 1000 + salt)
    return np.array(options, dtype=object)[rng.integers(0, len(options), n)]


def _multi_choice(world: World, options: tuple[str, ...], n: int, salt: int) -> np.ndarray:
    """Each row a `;`-joined subset of `options` (often empty), as a Salesforce multi-select picklist exports."""
    picked = np.random.default_rng(world.seed * 1000 + salt).random((n, len(options))) < 0.3
    return np.array([";".join(o for o, keep in zip(options, row) if keep) for row in picked], dtype=object)


def _typed_company(names: np.ndarray, seed: int) -> np.ndarray:
    """How people type their employer on a form: legal suffixes dropped, case changed, now and then."""
    rng = np.random.default_rng(seed + 41)
    u = rng.random(len(names))
    out = names.copy()
    drop = u < 0.3
    out[drop] = np.array([_without_legal_suffix(n) for n in names[drop]], dtype=object)
    upper = (u >= 0.3) & (u < 0.4)
    out[upper] = np.char.upper(names[upper].astype(str)).astype(object)
    typo = (u >= 0.4) & (u < 0.55)
    cut = rng.random(len(names))
    out[typo] = np.array([_drop_letter(n, c) for n, c in zip(names[typo], cut[typo])], dtype=object)
    return out


def _drop_letter(name: str, where: float) -> str:
    """A typing slip: one letter of the first word missing."""
    first = name.split(" ", 1)[0]
    if len(first) < 4:
        return name
    i = 1 + int(where * (len(first) - 2))
    return name[:i] + name[i + 1 :]


def _without_legal_suffix(name: str) -> str:
    head, _, last = name.rpartition(" ")
    return head if head and last in pools.LEGAL_SUFFIXES else name


def _arrow(values: object) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    arr = np.asarray(values)
    if arr.dtype == object:
        return pa.array(arr, pa.string(), from_pandas=True)
    return pa.array(arr)
