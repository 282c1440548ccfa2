"""Governance: usage labels on fields, entities and sources; the marketing actions destinations perform; the
policies that deny an action for labelled data, checked through lineage before audiences are saved or sent."""
