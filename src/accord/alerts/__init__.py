"""Alerts: rules over the lake's record of runs, deliveries and sources, sent by e-mail and webhook once each."""
