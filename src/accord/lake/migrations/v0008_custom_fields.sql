-- v0008: the custom fields and custom objects a store holds, as declared (lake/custom_fields.py adds their
-- columns and tables when they are declared, so the store alone says what its columns mean). A custom object's
-- fields are custom fields whose entity is the object.
CREATE TABLE custom_fields (
    entity VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    label VARCHAR,
    description VARCHAR,
    declared_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (entity, name)
);

CREATE TABLE custom_objects (
    name VARCHAR PRIMARY KEY,
    related_to VARCHAR NOT NULL,
    relation_column VARCHAR NOT NULL,
    label VARCHAR,
    description VARCHAR,
    declared_at TIMESTAMPTZ NOT NULL
);
