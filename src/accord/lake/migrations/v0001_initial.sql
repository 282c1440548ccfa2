-- v0001: the canonical entity tables, batches and quarantine.

CREATE SEQUENCE batch_seq START 1;

CREATE TABLE batches (
    batch_id BIGINT PRIMARY KEY,
    entity VARCHAR NOT NULL,
    source_type VARCHAR NOT NULL,
    source_instance_id VARCHAR NOT NULL,
    source_name VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_unchanged BIGINT,
    rows_quarantined BIGINT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE TABLE quarantine (
    batch_id BIGINT NOT NULL,
    entity VARCHAR NOT NULL,
    source_row BIGINT,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw_record VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE account (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "name"                   VARCHAR,
    "domain"                 VARCHAR,
    "website"                VARCHAR,
    "industry"               VARCHAR,
    "employees"              BIGINT,
    "annual_revenue"         DOUBLE,
    "currency_code"          VARCHAR,
    "account_type"           VARCHAR,
    "country"                VARCHAR,
    "state"                  VARCHAR,
    "city"                   VARCHAR,
    "phone"                  VARCHAR,
    "parent_account_key"     VARCHAR,
    "crm_account_id"         VARCHAR,
    "created_at"             TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE person (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "person_type"            VARCHAR,
    "email"                  VARCHAR,
    "first_name"             VARCHAR,
    "last_name"              VARCHAR,
    "job_title"              VARCHAR,
    "seniority"              VARCHAR,
    "department"             VARCHAR,
    "phone"                  VARCHAR,
    "company_name"           VARCHAR,
    "company_website"        VARCHAR,
    "account_key"            VARCHAR,
    "lead_status"            VARCHAR,
    "lead_source"            VARCHAR,
    "lead_score"             DOUBLE,
    "is_converted"           BOOLEAN,
    "converted_date"         DATE,
    "converted_contact_key"  VARCHAR,
    "converted_account_key"  VARCHAR,
    "crm_lead_id"            VARCHAR,
    "crm_contact_id"         VARCHAR,
    "crm_account_id"         VARCHAR,
    "email_opt_out"          BOOLEAN,
    "country"                VARCHAR,
    "city"                   VARCHAR,
    "created_at"             TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE opportunity (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "name"                   VARCHAR,
    "account_key"            VARCHAR,
    "stage"                  VARCHAR,
    "amount"                 DOUBLE,
    "currency_code"          VARCHAR,
    "close_date"             DATE,
    "is_closed"              BOOLEAN,
    "is_won"                 BOOLEAN,
    "probability"            DOUBLE,
    "opportunity_type"       VARCHAR,
    "lead_source"            VARCHAR,
    "forecast_category"      VARCHAR,
    "campaign_key"           VARCHAR,
    "created_at"             TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE account_person (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "account_key"            VARCHAR,
    "person_key"             VARCHAR,
    "role"                   VARCHAR,
    "is_primary"             BOOLEAN,
    "is_active"              BOOLEAN,
    "start_date"             DATE,
    "end_date"               DATE,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE opportunity_person (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "opportunity_key"        VARCHAR,
    "person_key"             VARCHAR,
    "role"                   VARCHAR,
    "is_primary"             BOOLEAN,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE campaign (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "name"                   VARCHAR,
    "campaign_type"          VARCHAR,
    "status"                 VARCHAR,
    "channel"                VARCHAR,
    "start_date"             DATE,
    "end_date"               DATE,
    "is_active"              BOOLEAN,
    "parent_campaign_key"    VARCHAR,
    "created_at"             TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE campaign_member (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "campaign_key"           VARCHAR,
    "person_key"             VARCHAR,
    "status"                 VARCHAR,
    "has_responded"          BOOLEAN,
    "first_responded_date"   DATE,
    "membership_date"        TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE marketing_list (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "name"                   VARCHAR,
    "description"            VARCHAR,
    "created_at"             TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE marketing_list_member (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "marketing_list_key"     VARCHAR,
    "person_key"             VARCHAR,
    "added_at"               TIMESTAMPTZ,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);

CREATE TABLE event (
    "source_id"              VARCHAR,
    "source_instance_id"     VARCHAR,
    "source_type"            VARCHAR,
    "source_key"             VARCHAR,
    "event_type"             VARCHAR,
    "timestamp"              TIMESTAMPTZ,
    "person_key"             VARCHAR,
    "anonymous_id"           VARCHAR,
    "url"                    VARCHAR,
    "campaign_key"           VARCHAR,
    "marketing_list_key"     VARCHAR,
    "properties"             JSON,
    "batch_id"               BIGINT,
    "source_row"             BIGINT,
    "ingested_at"            TIMESTAMPTZ,
    "record_hash"            VARCHAR,
    "source_updated_at"      TIMESTAMPTZ,
    "is_deleted"             BOOLEAN
);
