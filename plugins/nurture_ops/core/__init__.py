"""The ground floor: the runbook as data (catalog), settings, evaluation, time windows, database
access, SQL loading and text. Imports nothing else of the package."""
