-- v0008: the custom fields a store holds, as declared (their columns are added to the entity tables by
-- lake/custom_fields.py when declared, so the store alone says what its columns mean).
CREATE TABLE custom_fields (
    entity VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    label VARCHAR,
    description VARCHAR,
    declared_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (entity, name)
);
