"""Salesforce: accounts, contacts, leads, opportunities and their roles, campaigns and members, account-contact
relations and declared custom objects in, through the REST and Bulk 2.0 APIs; person audiences out, as campaign
members or a checkbox, through sObject Collections."""

from accord.connectors.registry import Connector
from accord.connectors.salesforce.config import (
                      SalesforceDestinationConfig,
                      SalesforceSourceConfig,
)

CONNECTOR = Connector("salesforce", "Salesforce", __name__, source=SalesforceSourceConfig,
                      destination=SalesforceDestinationConfig)
